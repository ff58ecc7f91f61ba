// Lint rules for every package: typescript-eslint's recommended set, plus the size limits that keep a
// module readable in one sitting (a function fits on a screen, a source file stays under 600 lines).
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["**/dist/**", "**/node_modules/**", "**/*.d.ts", "**/*.js", "**/*.mjs"] },
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" }],
      "@typescript-eslint/no-explicit-any": "error",
    },
  },
  {
    // Tests take raw JSON apart to tamper with it: `any` is allowed there, not in source.
    files: ["**/test/**/*.ts", "**/bench/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
  {
    // Size limits on source: a function over 80 lines or a file over 600 is a lint error. Where code
    // grows past them, split it by what it does, not into arbitrary chunks.
    files: ["packages/*/src/**/*.ts", "examples/*/src/**/*.ts"],
    rules: {
      "max-lines-per-function": ["error", { max: 80, skipBlankLines: true, skipComments: true }],
      "max-lines": ["error", { max: 600, skipBlankLines: true, skipComments: true }],
    },
  },
);
