/**
 * HTML for statements and payout reports: one self-contained page (inline CSS, no script, no
 * external resource, a Content-Security-Policy that forbids loading anything), every value escaped.
 */

const ESCAPES: Readonly<Record<string, string>> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

const STYLE = `
  :root { color-scheme: light; }
  body { margin: 0; background: #f4f5f7; color: #1d2330; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
  main { max-width: 62rem; margin: 2rem auto; padding: 2rem 2.5rem; background: #fff; border: 1px solid #dde1e7; border-radius: 8px; }
  header { border-bottom: 2px solid #1d2330; margin-bottom: 1.5rem; padding-bottom: 0.75rem; }
  h1 { font-size: 1.5rem; margin: 0 0 0.25rem; }
  h2 { font-size: 1.1rem; margin: 1.75rem 0 0.5rem; }
  .subtitle { margin: 0; color: #4a5263; }
  dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 0.25rem 1.5rem; margin: 0; }
  dl.facts dt { color: #4a5263; }
  dl.facts dd { margin: 0; }
  table { width: 100%; border-collapse: collapse; }
  th, td { padding: 0.4rem 0.6rem; border-bottom: 1px solid #e6e9ee; text-align: left; vertical-align: top; }
  thead th { background: #eef0f4; font-weight: 600; }
  .amount { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  table.totals { width: auto; min-width: 24rem; }
  table.totals th { font-weight: normal; }
  tr.emphasis th, tr.emphasis td { font-weight: 600; border-top: 2px solid #1d2330; }
  .empty { color: #4a5263; font-style: italic; }
  footer { margin-top: 2rem; color: #6b7385; font-size: 0.85rem; }
  @media print { body { background: #fff; } main { border: none; margin: 0; max-width: none; } }
`;

/** A complete page; `title` is escaped here, `body` must already be escaped HTML. */
export function htmlPage(title: string, body: string): string {
  return [
    "<!DOCTYPE html>",
    '<html lang="en">',
    "<head>",
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`,
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    "</head>",
    "<body>",
    "<main>",
    body,
    "<footer>Péage</footer>",
    "</main>",
    "</body>",
    "</html>",
    "",
  ].join("\n");
}

/** A table cell; `text` is escaped. */
export function cell(tag: "td" | "th", text: string, className?: string, scope?: "row" | "col"): string {
  const cls = className === undefined ? "" : ` class="${className}"`;
  const sc = scope === undefined ? "" : ` scope="${scope}"`;
  return `<${tag}${cls}${sc}>${escapeHtml(text)}</${tag}>`;
}
