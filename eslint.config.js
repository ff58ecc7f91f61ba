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
    // The size limits are reported, not yet enforced: the functions and files over them are listed by
    // every lint run until they are split (the card desk, the demo, the operator routes, settlement).
    files: ["packages/*/src/**/*.ts", "examples/*/src/**/*.ts"],
    rules: {
      "max-lines-per-function": ["warn", { max: 80, skipBlankLines: true, skipComments: true }],
      "max-lines": ["warn", { max: 600, skipBlankLines: true, skipComments: true }],
    },
  },
);
