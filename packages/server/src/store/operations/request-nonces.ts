/** The nonces of users' signed requests, each accepted once per user until it expires (replay protection). */
import { run, type Logic } from "./operation.js";

export function* rememberRequestNonce(user: string, nonce: string, expiresAt: Date, now: Date): Logic<boolean> {
  yield* run("DELETE FROM user_request_nonces WHERE expires_at < ?", now.toISOString());
  return (
    (yield* run(
      "INSERT INTO user_request_nonces (nonce, user_id, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
      nonce,
      user,
      expiresAt.toISOString(),
    )) === 1
  );
}
