import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, expect, test, vi } from "vitest";
import { SignIn } from "./SignIn";

afterEach(() => vi.unstubAllGlobals());

function answer(status: number, body: unknown) {
  return new Response(JSON.stringify(body), { status,
    headers: { "Content-Type": "application/json" } });
}

test("a wrong key shows the server's message and signs nobody in", async () => {
  vi.stubGlobal("fetch", vi.fn(async () => answer(401, { error: "unauthorized",
    message: "an admin API key (X-API-Key) or admin JWT (Bearer) is required" })));
  const onSignedIn = vi.fn();
  render(<SignIn onSignedIn={onSignedIn} />);
  await userEvent.type(screen.getByLabelText("API key"), "thk_wrong");
  await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
  expect(await screen.findByRole("alert")).toHaveTextContent("admin API key");
  expect(onSignedIn).not.toHaveBeenCalled();
});

test("a viewer key signs in read-only, sending the key as X-API-Key", async () => {
  const fetchMock = vi.fn(async (_req: Request) =>
    answer(200, { id: "k1", role: "viewer", tenant_id: "demo" }));
  vi.stubGlobal("fetch", fetchMock);
  const onSignedIn = vi.fn();
  render(<SignIn onSignedIn={onSignedIn} />);
  await userEvent.type(screen.getByLabelText("API key"), "thk_viewer");
  await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
  await vi.waitFor(() => expect(onSignedIn).toHaveBeenCalled());
  expect(onSignedIn.mock.calls[0][0]).toMatchObject({ canWrite: false,
    who: { role: "viewer" } });
  const request = fetchMock.mock.calls[0][0] as Request;
  expect(request.headers.get("X-API-Key")).toBe("thk_viewer");
});
