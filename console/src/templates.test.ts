import { expect, test } from "vitest";
import { DIALECTS, SECRET_PLACEHOLDER, template } from "./templates";
import { STRATEGY } from "./testing/fakeApi";

const JSON_DIALECTS = DIALECTS.map((d) => d.id).filter((d) => d !== "text");

test.each(JSON_DIALECTS)("the %s message is JSON carrying the secret", (dialect) => {
  const message = JSON.parse(template(dialect, STRATEGY, "whsec_abc"));
  expect(message.token).toBe("whsec_abc");
});

test("without the secret every dialect says where it goes", () => {
  for (const { id } of DIALECTS) {
    expect(template(id, STRATEGY)).toContain(SECRET_PLACEHOLDER);
  }
});

test("TradingView position messages carry the strategy placeholders the validator reads", () => {
  const m = JSON.parse(template("tv_position", STRATEGY, "s"));
  expect(m).toMatchObject({ symbol: "{{ticker}}",
    strategy_order_action: "{{strategy.order.action}}",
    strategy_order_contracts: "{{strategy.order.contracts}}",
    strategy_market_position: "{{strategy.market_position}}",
    strategy_prev_market_position_size: "{{strategy.prev_market_position_size}}",
    time: "{{timenow}}" });
});

test("order-id messages leave the market position out", () => {
  const m = JSON.parse(template("tv_order", STRATEGY, "s"));
  expect(m.strategy_order_id).toBe("{{strategy.order.id}}");
  expect(m).not.toHaveProperty("strategy_market_position");
});

test("exchange messages are an order with a unique alert id from the bar", () => {
  const m = JSON.parse(template("exchange", STRATEGY, "s"));
  expect(m).toMatchObject({ action: "buy", symbol: "{{ticker}}", price: "{{close}}",
    alertId: "{{ticker}}-{{timenow}}" });
});

test("prop-firm messages name the strategy's tenant, account and bot", () => {
  const m = JSON.parse(template("propfirm", STRATEGY, "s"));
  expect(m).toMatchObject({ tenantId: "demo", accountId: "demo-paper",
    botId: "momentum-aapl", strategyName: "Momentum AAPL" });
});

test("strategy-routed messages route by the strategy's name", () => {
  expect(JSON.parse(template("routed", STRATEGY, "s"))).toMatchObject(
    { strategy: "Momentum AAPL", signal: "BUY" });
});

test("text messages are key=value lines", () => {
  const lines = template("text", STRATEGY, "whsec_abc").split("\n");
  expect(lines[0]).toBe("token=whsec_abc");
  expect(lines).toContain("strategy_order_action={{strategy.order.action}}");
  for (const line of lines) expect(line).toMatch(/^[a-z_]+=\S+$/);
});
