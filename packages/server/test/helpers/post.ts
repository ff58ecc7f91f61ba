/** One JSON POST to a started server, for the tests that talk to it over real HTTP. */

/** An answer's body: an acknowledgment, or a problem document with its code. */
export type Body = { readonly code?: string } & Record<string, unknown>;

export async function post(
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Body }> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Body };
}
