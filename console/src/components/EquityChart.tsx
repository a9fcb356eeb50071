import { useEffect, useRef } from "react";
import { AreaSeries, createChart, type IChartApi, type UTCTimestamp } from "lightweight-charts";

/** The equity curve, drawn by TradingView's lightweight-charts. */
export function EquityChart({ points, theme }: { points: { time: number; value: string }[];
  theme: string }) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<IChartApi | null>(null);
  useEffect(() => {
    if (!box.current) return;
    const css = getComputedStyle(document.documentElement);
    const color = (name: string) => css.getPropertyValue(name).trim();
    const c = createChart(box.current, {
      autoSize: true,
      layout: { background: { color: color("--panel") }, textColor: color("--muted") },
      grid: { vertLines: { color: color("--border") }, horzLines: { color: color("--border") } },
      timeScale: { timeVisible: true },
    });
    const series = c.addSeries(AreaSeries, { lineColor: color("--accent"),
      topColor: color("--accent") + "55", bottomColor: color("--accent") + "05" });
    series.setData(points.map((p) => ({ time: p.time as UTCTimestamp, value: Number(p.value) })));
    c.timeScale().fitContent();
    chart.current = c;
    return () => { c.remove(); chart.current = null; };
  }, [points, theme]);
  return <div ref={box} className="chart" data-testid="equity-chart" />;
}
