import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The build goes into the Python package, so the feedback service serves it from the installed wheel too.
export default defineConfig({
  plugins: [react()],
  base: "./",
  build: { outDir: "../../src/loyaltylens/feedback/ui", emptyOutDir: true },
  server: { proxy: { "/v1": "http://127.0.0.1:8070" } },
});
