/**
 * A request a user signs to read their own records at the payment server (GET /v1/me…), with the
 * same key that signs their consents: `Authorization: Peage-Signature <JWS>`, the JWS of type
 * peage-user-request+jws over {v, user, method, path, iat, nonce}. The server checks it
 * (server user-auth.ts); the wallet signs it to read its account and its acknowledgments.
 */
import { Type, type Static } from "@sinclair/typebox";
import { partyIdPattern, type PartyId } from "../identity.js";
import { JwsTypes, signJws } from "../jws.js";
import type { KeyPair } from "../keys.js";
import { newNonce, noncePattern } from "../nonce.js";
import { systemClock, timestamp, timestampPattern, type Clock } from "../time.js";
import { keyThumbprint } from "./payment-request.js";
import { PROTOCOL_VERSION } from "./schema.js";

export const USER_AUTH_SCHEME = "Peage-Signature";

export const UserRequestClaimsSchema = Type.Object(
  {
    v: Type.Literal(PROTOCOL_VERSION),
    user: Type.String({ pattern: partyIdPattern.replace("(publisher|server|user|card)", "user"), maxLength: 80 }),
    method: Type.String({ pattern: "^[A-Z]{3,7}$" }),
    path: Type.String({ minLength: 1, maxLength: 2048, pattern: "^/[\\x21-\\x7e]*$" }),
    iat: Type.String({ pattern: timestampPattern }),
    nonce: Type.String({ pattern: noncePattern }),
  },
  { additionalProperties: false },
);
export type UserRequestClaims = Static<typeof UserRequestClaimsSchema>;

export interface UserRequestInput {
  readonly user: PartyId<"user">;
  readonly key: KeyPair;
  /** HTTP method, e.g. "GET". */
  readonly method: string;
  /** Request target as it will be sent: path and query, e.g. "/v1/me/payments?limit=10". */
  readonly path: string;
  readonly clock?: Clock;
  readonly nonce?: string;
}

/** Signs a request to the payment server's /v1/me endpoints; returns the Authorization header value. */
export async function signUserRequest(input: UserRequestInput): Promise<string> {
  const claims: UserRequestClaims = {
    v: PROTOCOL_VERSION,
    user: input.user,
    method: input.method.toUpperCase(),
    path: input.path,
    iat: timestamp((input.clock ?? systemClock).now()),
    nonce: input.nonce ?? newNonce(),
  };
  const token = await signJws(JwsTypes.userRequest, claims, input.key, { kid: await keyThumbprint(input.key.publicKey) });
  return `${USER_AUTH_SCHEME} ${token}`;
}
