/**
 * Requests a user signs to read their own records (GET /v1/me…), with the same key that signs
 * their consents:
 *
 *   Authorization: Peage-Signature <JWS>
 *
 * The JWS (protocol jws.ts, typ peage-user-request+jws, kid = RFC 7638 thumbprint of the key)
 * carries {v, user, method, path, iat, nonce}. `path` is the request target exactly as sent,
 * query string included, so a signature for one page or filter is worth nothing for another.
 * The server accepts it once (the nonce is remembered), within a window around `iat`. The claims
 * and the signing side (signUserRequest) are in the protocol package, for the wallet's use too.
 */
export {
  signUserRequest,
  USER_AUTH_SCHEME,
  UserRequestClaimsSchema,
  type UserRequestClaims,
  type UserRequestInput,
} from "@peage/protocol";
import {
  decodeJws,
  JwsTypes,
  parser,
  toDate,
  USER_AUTH_SCHEME,
  UserRequestClaimsSchema,
  verifyJwsSignature,
  type Clock,
  type PartyId,
  type ProblemCode,
  type Timestamp,
  type UserKey,
} from "@peage/protocol";
import { HttpProblem, problemFor } from "./problems.js";

export interface UserRequestCheck {
  readonly method: string;
  readonly path: string;
  readonly clock: Clock;
  /** |now - iat| allowed, ms. */
  readonly windowMs: number;
  readonly userKey: (user: PartyId<"user">, kid: string) => Promise<UserKey | undefined>;
  /** Records the nonce; false if it was seen before. */
  readonly remember: (user: PartyId<"user">, nonce: string, expiresAt: Date) => Promise<boolean>;
}

const claimsParser = parser(UserRequestClaimsSchema);

const refuse = (code: ProblemCode, detail: string) =>
  new HttpProblem(problemFor(code, detail, { status: 401, retryable: false }), { "www-authenticate": USER_AUTH_SCHEME });

/** Checks a signed user request and returns the user it authenticates; throws a 401 problem naming what failed. */
export async function authenticateUser(header: string | undefined, check: UserRequestCheck): Promise<PartyId<"user">> {
  if (!header) throw refuse("ERR_UNAUTHORIZED", `sign the request with your key: Authorization: ${USER_AUTH_SCHEME} <JWS>`);
  const match = /^Peage-Signature +(\S+)$/i.exec(header);
  if (!match) throw refuse("ERR_UNAUTHORIZED", `the Authorization header must be ${USER_AUTH_SCHEME} <JWS>`);
  const token = match[1]!;
  const decoded = decodeJws(token, JwsTypes.userRequest);
  if (!decoded.ok) throw refuse(decoded.error.code, `the request signature: ${decoded.error.message}`);
  const { header: jwsHeader, payload } = decoded.value;
  if (!jwsHeader.kid) throw refuse("ERR_MALFORMED", "the request signature does not name the user's key (kid)");
  const parsed = claimsParser.parse(payload, "signed request");
  if (!parsed.ok) throw refuse("ERR_MALFORMED", parsed.error.message);
  const claims = parsed.value;
  const user = claims.user as PartyId<"user">;

  const key = await check.userKey(user, jwsHeader.kid);
  if (!key) throw refuse("ERR_UNKNOWN_KEY", `no key ${jwsHeader.kid} is enrolled for ${user}`);
  const signature = await verifyJwsSignature(token, key.alg, key.publicKey);
  if (!signature.ok) throw refuse(signature.error.code, `the request signature does not verify with ${user}'s key`);

  if (claims.method !== check.method.toUpperCase() || claims.path !== check.path) {
    throw refuse(
      "ERR_UNAUTHORIZED",
      `the signature is for ${claims.method} ${claims.path}, not for this request (${check.method.toUpperCase()} ${check.path})`,
    );
  }
  const now = check.clock.now().getTime();
  const iat = toDate(claims.iat as Timestamp).getTime();
  if (Number.isNaN(iat) || Math.abs(now - iat) > check.windowMs) {
    throw refuse(
      now > iat ? "ERR_MESSAGE_EXPIRED" : "ERR_MESSAGE_NOT_YET_VALID",
      `the request was signed at ${claims.iat}, more than ${check.windowMs / 1000} s from the server's clock: sign a fresh request`,
    );
  }
  // Remembered until the window closes; after that the iat check refuses it anyway.
  if (!(await check.remember(user, claims.nonce, new Date(iat + check.windowMs)))) {
    throw refuse("ERR_NONCE_REUSED", "this signed request was already used: sign a new one for each request");
  }
  return user;
}
