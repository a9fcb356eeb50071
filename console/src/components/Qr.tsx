import { useEffect, useRef } from "react";
import QRCode from "qrcode";

/** A QR code of `text` (low error correction: alert messages are long). */
export function Qr({ text }: { text: string }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    if (canvas.current) {
      QRCode.toCanvas(canvas.current, text, { errorCorrectionLevel: "L", margin: 1,
        width: 168 }).catch(() => undefined);
    }
  }, [text]);
  return <div className="qr" data-testid="qr"><canvas ref={canvas} aria-label="QR code of the
    webhook URL and message" /></div>;
}
