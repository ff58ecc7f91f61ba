/**
 * Systematic k-of-n Reed-Solomon erasure coding over GF(2^8), so that the store's state survives
 * the loss of any n − k of its fragments. No npm library of this kind is small and audited, so this
 * is the textbook construction, kept short enough to check by eye and tested against every subset:
 *
 * - GF(2^8) with the polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d), by log/antilog tables;
 * - the encoding matrix is the k×k identity (shares 0..k−1 are the data itself) above an
 *   (n−k)×k Cauchy matrix C[i][j] = 1 / (x_i + y_j), x_i = k + i, y_j = j, all distinct. Every
 *   square submatrix of a Cauchy matrix is invertible, so any k rows of [I; C] are: any k shares
 *   rebuild the data (the code is MDS);
 * - decoding inverts the k×k matrix of the rows present by Gauss-Jordan elimination.
 *
 * Erasures only: a share is either present and intact (fragments.ts authenticates each one) or
 * absent. Corrupted shares are not located here.
 */

const EXP = new Uint8Array(512);
const LOG = new Uint8Array(256);
{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= 0x11d;
  }
  for (let i = 255; i < 512; i++) EXP[i] = EXP[i - 255]!;
}

export function gfMul(a: number, b: number): number {
  if (a === 0 || b === 0) return 0;
  return EXP[LOG[a]! + LOG[b]!]!;
}

export function gfInv(a: number): number {
  if (a === 0) throw new RangeError("0 has no inverse in GF(256)");
  return EXP[255 - LOG[a]!]!;
}

/** The coding parameters: k data shares among n. */
export interface Coding {
  readonly k: number;
  readonly n: number;
}

export function checkCoding({ k, n }: Coding): void {
  if (!Number.isInteger(k) || !Number.isInteger(n) || k < 1 || n < k || n > 255) {
    throw new RangeError(`erasure coding needs 1 <= k <= n <= 255 (got k=${k}, n=${n})`);
  }
}

/** Row `index` of the encoding matrix [I; C]. */
function matrixRow(index: number, k: number): Uint8Array {
  const row = new Uint8Array(k);
  if (index < k) {
    row[index] = 1;
    return row;
  }
  for (let j = 0; j < k; j++) row[j] = gfInv(index ^ j); // x_i + y_j in GF(2^8) is XOR, never 0 here
  return row;
}

/** out ^= factor · data, byte by byte. */
function addScaled(out: Uint8Array, data: Uint8Array, factor: number): void {
  if (factor === 0) return;
  const log = LOG[factor]!;
  for (let i = 0; i < data.length; i++) {
    const d = data[i]!;
    if (d !== 0) out[i]! ^= EXP[LOG[d]! + log]!;
  }
}

/**
 * Splits `data` into n shares of ceil(len / k) bytes each (the data zero-padded); the length is
 * the caller's to keep (fragments.ts stores it in every fragment's authenticated header).
 */
export function encodeShares(data: Uint8Array, coding: Coding): Uint8Array[] {
  checkCoding(coding);
  const { k, n } = coding;
  const size = Math.max(1, Math.ceil(data.length / k));
  const blocks: Uint8Array[] = [];
  for (let j = 0; j < k; j++) {
    const block = new Uint8Array(size);
    block.set(data.subarray(j * size, Math.min(data.length, (j + 1) * size)));
    blocks.push(block);
  }
  const shares = blocks.map((block) => block.slice());
  for (let i = k; i < n; i++) {
    const row = matrixRow(i, k);
    const share = new Uint8Array(size);
    for (let j = 0; j < k; j++) addScaled(share, blocks[j]!, row[j]!);
    shares.push(share);
  }
  return shares;
}

/** Inverts a k×k matrix over GF(256) (Gauss-Jordan); throws if it is singular. */
export function invert(matrix: readonly Uint8Array[]): Uint8Array[] {
  const k = matrix.length;
  const a = matrix.map((row) => row.slice());
  const inv = a.map((_, i) => {
    const row = new Uint8Array(k);
    row[i] = 1;
    return row;
  });
  for (let col = 0; col < k; col++) {
    const pivot = a.findIndex((row, r) => r >= col && row[col] !== 0);
    if (pivot < 0) throw new RangeError("singular matrix");
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    [inv[col], inv[pivot]] = [inv[pivot]!, inv[col]!];
    const scale = gfInv(a[col]![col]!);
    for (let j = 0; j < k; j++) {
      a[col]![j] = gfMul(a[col]![j]!, scale);
      inv[col]![j] = gfMul(inv[col]![j]!, scale);
    }
    for (let r = 0; r < k; r++) {
      if (r === col || a[r]![col] === 0) continue;
      const factor = a[r]![col]!;
      addScaled(a[r]!, a[col]!, factor);
      addScaled(inv[r]!, inv[col]!, factor);
    }
  }
  return inv;
}

/**
 * Rebuilds the data from any k shares, given as index → share (every share the same size), and
 * its original length. Throws when fewer than k shares are given.
 */
export function decodeShares(shares: ReadonlyMap<number, Uint8Array>, coding: Coding, length: number): Uint8Array {
  checkCoding(coding);
  const { k, n } = coding;
  const indices = [...shares.keys()]
    .filter((i) => Number.isInteger(i) && i >= 0 && i < n)
    .sort((a, b) => a - b)
    .slice(0, k);
  if (indices.length < k) throw new RangeError(`${indices.length} shares present, ${k} needed`);
  const size = shares.get(indices[0]!)!.length;
  if (indices.some((i) => shares.get(i)!.length !== size)) throw new RangeError("shares of different sizes");
  if (length > size * k || length < 0) throw new RangeError(`length ${length} does not fit ${k} shares of ${size} bytes`);
  const decoder = invert(indices.map((i) => matrixRow(i, k)));
  const out = new Uint8Array(size * k);
  for (let j = 0; j < k; j++) {
    const block = out.subarray(j * size, (j + 1) * size);
    for (let r = 0; r < k; r++) addScaled(block, shares.get(indices[r]!)!, decoder[j]![r]!);
  }
  return out.slice(0, length);
}
