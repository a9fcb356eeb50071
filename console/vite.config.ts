/// <reference types="vitest/config" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build lands in the Python package (services/api/console/static), which the operator
// listener serves at "/" and the wheel ships as package data.
export default defineConfig({
  plugins: [react()],
  base: "/",
  build: {
    outDir: "../services/api/console/static",
    emptyOutDir: true,
    chunkSizeWarningLimit: 900,
  },
  server: {
    // `npm run dev`: API calls go to a running `tradehooks up`.
    proxy: {
      "/api": process.env.TRADEHOOKS_API ?? "http://127.0.0.1:8081",
      "/openapi.json": process.env.TRADEHOOKS_API ?? "http://127.0.0.1:8081",
    },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test-setup.ts"],
    include: ["src/**/*.test.tsx", "src/**/*.test.ts"],
    // A component test waits on rendering, not on a clock: the default 5 s ran out for
    // three tests on this 2-core machine under a load of 20; 30 s still catches a hang.
    testTimeout: 30_000,
  },
});
