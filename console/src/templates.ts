// Alert message templates per dialect, with TradingView placeholders.
import type { Strategy } from "./api/client";

export const DIALECTS = [
  { id: "tv_position", label: "TradingView (market_position)" },
  { id: "tv_order", label: "TradingView strategy (order id)" },
  { id: "exchange", label: "Exchange" },
  { id: "propfirm", label: "Prop-firm" },
  { id: "routed", label: "Strategy-routed" },
  { id: "text", label: "Text (key=value)" },
] as const;
export type DialectId = (typeof DIALECTS)[number]["id"];

export const SECRET_PLACEHOLDER = "<your strategy secret>";

/** The ready message of `dialect` for `strategy` (the secret if known, else a
 * placeholder: secrets are shown once, at creation or rotation). */
export function template(dialect: DialectId, strategy: Strategy, secret?: string): string {
  const token = secret || SECRET_PLACEHOLDER;
  const json = (o: object) => JSON.stringify(o, null, 2);
  switch (dialect) {
    case "tv_position":
      return json({
        token, symbol: "{{ticker}}", strategy_order_id: "{{strategy.order.id}}",
        strategy_order_action: "{{strategy.order.action}}",
        strategy_order_contracts: "{{strategy.order.contracts}}",
        strategy_order_price: "{{strategy.order.price}}",
        strategy_order_comment: "{{strategy.order.comment}}",
        strategy_market_position: "{{strategy.market_position}}",
        strategy_market_position_size: "{{strategy.market_position_size}}",
        strategy_prev_market_position: "{{strategy.prev_market_position}}",
        strategy_prev_market_position_size: "{{strategy.prev_market_position_size}}",
        time: "{{timenow}}",
      });
    case "tv_order":
      return json({
        token, symbol: "{{ticker}}", strategy_order_id: "{{strategy.order.id}}",
        strategy_order_action: "{{strategy.order.action}}",
        strategy_order_contracts: "{{strategy.order.contracts}}",
        strategy_order_price: "{{strategy.order.price}}",
        strategy_order_comment: "{{strategy.order.comment}}", time: "{{timenow}}",
      });
    case "exchange":
      return json({
        token, alertId: "{{ticker}}-{{timenow}}", action: "buy", symbol: "{{ticker}}",
        price: "{{close}}", quantity: "1", orderType: "market", timestamp: "{{timenow}}",
      });
    case "propfirm":
      return json({
        token, tenantId: strategy.tenant_id, accountId: strategy.account_id,
        symbol: "{{ticker}}", action: "buy", quantity: "1", orderType: "market",
        botId: strategy.slug, strategyName: strategy.name,
        signalId: "{{strategy.order.id}}-{{timenow}}",
      });
    case "routed":
      return json({ token, strategy: strategy.name, signal: "BUY", confidence: 0.8 });
    case "text":
      return [`token=${token}`, "symbol={{ticker}}", "strategy_order_id={{strategy.order.id}}",
        "strategy_order_action={{strategy.order.action}}",
        "strategy_order_contracts={{strategy.order.contracts}}",
        "strategy_order_price={{strategy.order.price}}"].join("\n");
  }
}
