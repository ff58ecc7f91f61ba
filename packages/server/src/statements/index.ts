/**
 * Statements for users and payout reports for publishers, as RFC 4180 CSV and as self-contained
 * HTML pages. Pure functions: the same input always gives byte-identical output.
 */
export {
  StatementError,
  StatementLineKinds,
  type Statement,
  type StatementLine,
  type StatementLineKind,
  type PublisherPayout,
  type PayoutLine,
} from "./types.js";
export { renderStatementCsv, renderStatementHtml, STATEMENT_CSV_HEADER } from "./statement.js";
export { renderPayoutCsv, renderPayoutHtml, PAYOUT_CSV_HEADER } from "./payout.js";
export { escapeHtml } from "./html.js";
export { csvField } from "./csv.js";
