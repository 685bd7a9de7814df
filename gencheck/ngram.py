"""Character n-gram baseline: interpolated modified Kneser-Ney over the id streams the model sees.

    ng = NGram.fit(stream(train_texts, vocab), order=8, vocab_size=vocab.size)
    ng.bits_per_char(stream(test_texts, vocab))        # comparable to train.bits_per_char
    ng.distribution(context_ids)                       # the full next-character distribution

Smoothing: interpolated *modified* Kneser-Ney (Chen & Goodman 1999), three discounts per order
(D1, D2, D3+) estimated from the count-of-counts of that order, raw counts at the highest order and
continuation counts (number of distinct left extensions) below it, a uniform distribution over the
vocabulary under the unigram level. Chosen over Witten-Bell and plain (one-discount) Kneser-Ney
because it is the strongest of the three for characters, and it costs nothing extra here: the three
discount classes are three more bincounts. With j = context length, h = context, c_j(hw) the count
used at level j (raw at j = order-1, else continuation) and tot_j(h) = sum_w c_j(hw)::

    p_j(w | h) = (c_j(hw) - D_j(c_j(hw)) + gamma_j(h) * p_{j-1}(w | h[1:])) / tot_j(h)
    gamma_j(h) = D_j1 N1(h) + D_j2 N2(h) + D_j3 N3+(h)      (N_k(h): continuations with count k / >= k)
    p_j = p_{j-1} where tot_j(h) = 0 (the context was never seen with a continuation);  p_{-1} = 1/V

Every D lies in (0, k] for count class k, so no count goes negative, the mass taken from the seen
continuations is exactly gamma, and every p_j sums to 1 over the vocabulary (tests check it to 1e-9).

Context: the probability at a position uses at most `order - 1` previous ids. By default it reads
across document boundaries (the previous document's last characters before the SEP), as the model
does in `train.bits_per_char`, which carries state across documents; `reset_at_sep=True` stops the
context at the latest SEP (which stays in the context), as a model with fresh state at each document
sees it; `max_context=N` (or a per-position `context_lengths`) allows at most N previous ids. A
shorter context simply means a lower level of the same recursion (its continuation-count
distribution), so all these are proper distributions of one fitted model. Counts are always taken
over the training stream as it is, across SEPs.

Layout (why it fits ~22 M characters of order 20 in a few GB and minutes): strings are ranked level by
level from the right (an L-string is its last L-1 characters, already ranked, plus one character on the
left), with exact integer keys `rank * V + char`, sorted with a stable sort that sees nearly sorted
input -- no hashing, no collisions. A string that occurs once in training is stored only at the length
where it first becomes unique (its position is kept); every longer string ending there is unique too,
and is recognised by comparing characters of the training stream instead of being stored. So each
training position adds at most one unique entry over all orders, and the tables hold mostly repeated
strings. Children of an entry (its left extensions) are contiguous in the next level's table, so a
lookup is a short vectorised binary search over at most V entries.
"""

from __future__ import annotations

import numpy as np

MAX_ORDER = 32


def kn_discounts(n1: int, n2: int, n3: int, n4: int) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts (D1, D2, D3+) from the count-of-counts n1..n4 of one order.

    Chen & Goodman: Y = n1 / (n1 + 2 n2), D1 = 1 - 2Y n2/n1, D2 = 2 - 3Y n3/n2, D3+ = 3 - 4Y n4/n3.
    Where a count-of-counts is 0 (tiny data) the missing ratio is taken as 0 (D = 1, 2, 3) and Y as
    1/2; each D is then clipped into [0.01 k, k] for its class k = 1, 2, 3, so unseen characters always
    keep some probability and no count goes negative.
    """
    y = n1 / (n1 + 2 * n2) if n1 + 2 * n2 > 0 else 0.5
    d1 = 1 - 2 * y * n2 / n1 if n1 > 0 else 1.0
    d2 = 2 - 3 * y * n3 / n2 if n2 > 0 else 2.0
    d3 = 3 - 4 * y * n4 / n3 if n3 > 0 else 3.0
    return (float(min(max(d1, 0.01), 1.0)), float(min(max(d2, 0.02), 2.0)), float(min(max(d3, 0.03), 3.0)))


def _lower_bound(arr: np.ndarray, lo: np.ndarray, hi: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Vectorised `bisect_left(arr, x[i], lo[i], hi[i])` (arr sorted within each range)."""
    lo, hi = lo.copy(), hi.copy()
    a = np.flatnonzero(lo < hi)
    while len(a):
        mid = (lo[a] + hi[a]) >> 1
        less = arr[mid] < x[a]
        lo[a[less]] = mid[less] + 1
        hi[a[~less]] = mid[~less]
        a = a[lo[a] < hi[a]]
    return lo


class NGram:
    """A fitted character n-gram model (see the module docstring). Build with `NGram.fit`."""

    def __init__(self, order: int, vocab_size: int, sep_id: int = 0) -> None:
        self.order = order
        self.vocab_size = vocab_size
        self.sep_id = sep_id
        self.train: np.ndarray = np.zeros(0, np.uint16)
        K = order
        # per string length L = 1..K (index 0 unused): first character of each entry (entries sorted by
        # (suffix rank, first char)), training end position of unique entries (-1 = repeated), KN count
        self.chr: list[np.ndarray] = [np.zeros(0, np.uint16)] * (K + 1)
        self.upos: list[np.ndarray] = [np.zeros(0, np.int32)] * (K + 1)
        self.cnt: list[np.ndarray] = [np.zeros(0, np.int32)] * (K + 1)
        # per context length j = 0..K-1: children ranges in table j+1, context totals and gammas, discounts
        self.ext: list[np.ndarray] = [np.zeros(1, np.int64)] * K
        self.tot: list[np.ndarray] = [np.zeros(0, np.int32)] * K
        self.gam: list[np.ndarray] = [np.zeros(0, np.float64)] * K
        self.discounts: list[tuple[float, float, float]] = [(1.0, 2.0, 3.0)] * K
        self.first = np.full(vocab_size, -1, np.int64)  # char -> its entry in table 1

    # --- building -----------------------------------------------------------------------------------

    @classmethod
    def fit(cls, ids: np.ndarray, order: int, vocab_size: int, sep_id: int = 0) -> "NGram":
        """Count every string of length 1..order in `ids` (e.g. `corpus.stream(train_texts, vocab)`)."""
        K, V = int(order), int(vocab_size)
        if not 1 <= K <= MAX_ORDER:
            raise ValueError(f"order must be between 1 and {MAX_ORDER}, not {order}")
        T = np.asarray(ids).astype(np.int64, copy=False)
        if T.ndim != 1 or len(T) == 0:
            raise ValueError("fit needs a non-empty 1-d id stream")
        if T.min() < 0 or T.max() >= V:
            raise ValueError(f"ids must lie in [0, {V})")
        self = cls(K, V, sep_id)
        n = len(T)
        self.train = T.astype(np.uint16 if V <= 65536 else np.int32)
        u = np.full(n, K + 1, np.int8)  # length at which the string ending here first occurs once
        act = np.arange(n, dtype=np.int64)  # positions whose (L-1)-string repeats, by its rank
        rank_prev = np.zeros(n, np.int32)  # dense rank of the (L-1)-string ending at each position
        m_prev = 1
        pend_pre = np.zeros(0, np.int64)
        acc: list[np.ndarray] = [np.zeros(1)] * K  # context totals contributed by unstored continuations
        deep_n1 = [0] * (K + 1)  # unstored strings of each length whose count is 1
        counts = np.zeros(0, np.int64)
        for L in range(1, K + 1):
            c = T[act - (L - 1)]
            if L == 1:
                o = np.argsort(c.astype(np.uint16 if V <= 65536 else np.int64), kind="stable")
                key = c[o]
            else:
                key = rank_prev[act].astype(np.int64) * V + c
                o = np.argsort(key, kind="stable")  # nearly sorted already: by rank, then char
                key = key[o]
            del c
            act = act[o]
            del o
            N = len(key)
            new = np.ones(N, bool)
            np.not_equal(key[1:], key[:-1], out=new[1:])
            starts = np.flatnonzero(new)
            gid = np.cumsum(new) - 1
            del new
            counts = np.diff(np.append(starts, N))
            ukeys = key[starts]
            del key
            parent = ukeys // V
            self.chr[L] = (ukeys - parent * V).astype(np.uint16 if V <= 65536 else np.int32)
            del ukeys
            rep = act[starts]
            uniq = counts == 1
            self.upos[L] = np.where(uniq, rep, -1).astype(np.int32)
            ext = np.zeros(m_prev + 1, np.int64)
            np.cumsum(np.bincount(parent, minlength=m_prev), out=ext[1:])
            self.ext[L - 1] = ext.astype(np.int32) if len(starts) < 2**31 else ext
            del parent
            if L == 1:
                pre = np.zeros(len(starts), np.int64)
                self.first[self.chr[1].astype(np.int64)] = np.arange(len(starts))
            else:  # the context (prefix) of each entry, where that context repeats
                rp = rep - 1
                pre = np.where(u[rp] > L - 1, rank_prev[rp], -1).astype(np.int64)
            u[rep[uniq]] = L
            rank_cur = np.full(n, -1, np.int32)
            rank_cur[act] = gid
            if L >= 2:  # unstored L-strings (unique already at a shorter length), and their contexts
                dmask = u[L - 1:] < L
                deep_n1[L] = int(dmask.sum() if L == K else dmask[1:].sum())
                sm = dmask & (u[L - 2:n - 1] > L - 1)
                dq = np.flatnonzero(sm) + (L - 1)
                del dmask, sm
                w = np.ones(len(dq)) if L == K else (dq >= L).astype(np.float64)
                acc[L - 1] = np.bincount(rank_prev[dq - 1], weights=w, minlength=m_prev)
                # table L-1's counts are now known (its children): finish the contexts of length L-2
                up = self.upos[L - 1]
                self.cnt[L - 1] = np.where(up >= 0, up >= L - 1, np.diff(ext)).astype(np.int32)
                self._finish(L - 2, pend_pre, self.cnt[L - 1], deep_n1[L - 1], acc[L - 2])
                acc[L - 2] = np.zeros(0)
            pend_pre = pre
            keep = (~uniq)[gid] & (act >= L)
            act = act[keep]
            del keep, gid
            rank_prev = rank_cur
            m_prev = len(starts)
        self.cnt[K] = counts.astype(np.int32)
        self._finish(K - 1, pend_pre, self.cnt[K], deep_n1[K], acc[K - 1])
        return self

    def _finish(self, j: int, pre: np.ndarray, cnt: np.ndarray, deep_n1: int, acc: np.ndarray) -> None:
        """Discounts of level j and the totals / gammas of its repeated contexts, from the counts `cnt`
        of the (j+1)-strings in table j+1, whose contexts are `pre` (-1: a context seen once)."""
        n1, n2, n3, n4 = (int((cnt == k).sum()) for k in (1, 2, 3, 4))
        d = kn_discounts(n1 + deep_n1, n2, n3, n4)
        self.discounts[j] = d
        m = len(acc)
        ok = pre >= 0
        p, c = pre[ok], cnt[ok]
        tot = acc + np.bincount(p, weights=c, minlength=m)
        n1c = acc + np.bincount(p, weights=c == 1, minlength=m)
        gam = d[0] * n1c + d[1] * np.bincount(p, weights=c == 2, minlength=m) \
            + d[2] * np.bincount(p, weights=c >= 3, minlength=m)
        self.tot[j] = tot.astype(np.int32 if len(self.train) < 2**31 else np.int64)
        self.gam[j] = gam

    def nbytes(self) -> int:
        """Memory held by the tables (bytes)."""
        arrays = [self.train, self.first, *self.chr, *self.upos, *self.cnt, *self.ext, *self.tot, *self.gam]
        return int(sum(a.nbytes for a in arrays))

    # --- the recursion ------------------------------------------------------------------------------

    def _step(self, L: int, rank: np.ndarray, tpos: np.ndarray, c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Extend strings of length L-1 (states: table rank, training position when unique) on the left
        by the characters `c` (-1: none) to length L. (-1, -1) is a string never seen in training."""
        k = len(c)
        out_r = np.full(k, -1, np.int64)
        out_t = np.full(k, -1, np.int64)
        if L == 1:
            ok = np.flatnonzero(c >= 0)
            r = self.first[c[ok]]
            out_r[ok] = r
            out_t[ok] = np.where(r >= 0, self.upos[1][np.maximum(r, 0)], -1)
            return out_r, out_t
        un = np.flatnonzero((tpos >= 0) & (c >= 0))
        if len(un):  # a unique string extends only as its one training occurrence does
            s = tpos[un] - (L - 1)
            ok = s >= 0
            ok[ok] = self.train[s[ok]] == c[un[ok]]
            out_t[un[ok]] = tpos[un[ok]]
        sh = np.flatnonzero((rank >= 0) & (tpos < 0) & (c >= 0))
        if len(sh):  # a repeated string: find the child with first character c
            r = rank[sh]
            e = self.ext[L - 1]
            lo, hi = e[r].astype(np.int64), e[r + 1].astype(np.int64)
            cc = c[sh]
            pos = _lower_bound(self.chr[L], lo, hi, cc)
            f = pos < hi
            f[f] = self.chr[L][pos[f]] == cc[f]
            g = pos[f]
            out_r[sh[f]] = g
            out_t[sh[f]] = self.upos[L][g]
        return out_r, out_t

    def _context(self, j: int, rank: np.ndarray, tpos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(tot, gamma) of contexts of length j >= 1 given by their states (0 where never seen)."""
        tot = np.zeros(len(rank))
        gam = np.zeros(len(rank))
        sh = (rank >= 0) & (tpos < 0)
        tot[sh] = self.tot[j][rank[sh]]
        gam[sh] = self.gam[j][rank[sh]]
        un = np.flatnonzero(tpos >= 0)
        if len(un):  # seen once: its one continuation, counted 1 (or 0 when it has no left extension)
            q = tpos[un]
            ok = q + 1 < len(self.train)
            if j + 1 < self.order:
                ok &= q >= j
            tot[un] = ok
            gam[un] = self.discounts[j][0] * ok
        return tot, gam

    def _count(self, L: int, rank: np.ndarray, tpos: np.ndarray) -> np.ndarray:
        """KN counts of strings of length L given by their states."""
        cnt = np.zeros(rank.shape)
        st = rank >= 0
        cnt[st] = self.cnt[L][rank[st]]
        dp = ~st & (tpos >= 0)
        cnt[dp] = 1.0 if L == self.order else tpos[dp] >= L
        return cnt

    def _update(self, j: int, p: np.ndarray, cnt: np.ndarray, tot: np.ndarray, gam: np.ndarray) -> np.ndarray:
        d = np.array((0.0, *self.discounts[j]))
        return (cnt - d[np.minimum(cnt, 3).astype(np.int64)] + gam * p) / tot

    # --- scoring ------------------------------------------------------------------------------------

    def _caps(self, x: np.ndarray, t: np.ndarray, max_context: int | None, reset_at_sep: bool) -> np.ndarray:
        """Context lengths allowed at positions t (predicting x[t], or past the end when t == len(x))."""
        cap = np.minimum(t, self.order - 1)
        if max_context is not None:
            cap = np.minimum(cap, max(0, int(max_context)))
        if reset_at_sep and len(x):
            idx = np.where(x == self.sep_id, np.arange(len(x)), -1)
            last = np.maximum.accumulate(idx)  # latest SEP at or before each index
            prev = np.where(t > 0, last[np.clip(t - 1, 0, len(x) - 1)], -1)
            cap = np.where(prev >= 0, np.minimum(cap, t - prev), cap)
        return cap.astype(np.int64)

    def _check(self, x: np.ndarray) -> None:
        if len(x) and (x.min() < 0 or x.max() >= self.vocab_size):
            raise ValueError(f"ids must lie in [0, {self.vocab_size})")

    def logprobs(self, ids: np.ndarray, max_context: int | None = None, reset_at_sep: bool = False,
                 context_lengths: np.ndarray | None = None) -> np.ndarray:
        """log2 p(ids[t] | the previous ids) for t = 1..len(ids)-1, as the model is scored: the first id
        (a SEP) is given, not predicted. At most order-1 previous ids are used, fewer with
        `reset_at_sep`, `max_context` or `context_lengths` (per position t = 1..len-1, the most previous
        ids allowed); all three may be combined (the smallest wins)."""
        x = np.asarray(ids).astype(np.int64, copy=False)
        self._check(x)
        n = len(x)
        if n < 2:
            return np.zeros(0)
        cap = self._caps(x, np.arange(n), max_context, reset_at_sep)
        if context_lengths is not None:
            cl = np.asarray(context_lengths, dtype=np.int64)
            if cl.shape != (n - 1,):
                raise ValueError(f"context_lengths needs one entry per predicted position ({n - 1})")
            cap[1:] = np.minimum(cap[1:], np.maximum(cl, 0))
        return np.log2(self._chunked_probs(x, cap)[1:])

    def _chunked_probs(self, x: np.ndarray, cap: np.ndarray, chunk: int = 1 << 15) -> np.ndarray:
        """`_stream_probs` over pieces of `chunk` positions, each read with the order-1 ids before it, so
        the per-order work arrays stay in cache (same values: no position uses more than order-1 ids)."""
        n, back = len(x), self.order - 1
        if n <= chunk + back:
            return self._stream_probs(x, cap)
        out = np.empty(n)
        for a in range(0, n, chunk):
            b, s = min(n, a + chunk), max(0, a - back)
            c = cap[s:b].copy()
            c[: a - s] = 0  # the ids before the piece are context only
            out[a:b] = self._stream_probs(x[s:b], c)[a - s:]
        return out

    def _stream_probs(self, x: np.ndarray, cap: np.ndarray) -> np.ndarray:
        n, K = len(x), self.order
        p = np.full(n, 1.0 / self.vocab_size)
        # how long the string ending at t must be followed: its own n-gram, and the next position's context
        need = np.maximum(cap + 1, np.append(cap[1:], 0))
        rank_prev = tpos_prev = None
        seen_prev = np.zeros(0, np.int64)
        for L in range(1, K + 1):
            j = L - 1
            if L == 1:
                rows = np.arange(n)
                r, tp = self._step(1, rows, rows, x)
            else:
                rows = seen_prev[(need[seen_prev] >= L) & (seen_prev >= L - 1)]
                r, tp = self._step(L, rank_prev[rows], tpos_prev[rows], x[rows - (L - 1)])
            rank = np.full(n, -1, np.int64)
            tpos = np.full(n, -1, np.int64)
            rank[rows], tpos[rows] = r, tp
            if j == 0:
                t = np.arange(n)
                tot = np.full(n, float(self.tot[0][0]))
                gam = np.full(n, self.gam[0][0])
            else:
                t = seen_prev + 1
                t = t[(t < n)]
                t = t[cap[t] >= j]
                tot, gam = self._context(j, rank_prev[t - 1], tpos_prev[t - 1])
                keep = tot > 0
                t, tot, gam = t[keep], tot[keep], gam[keep]
            if len(t):
                p[t] = self._update(j, p[t], self._count(L, rank[t], tpos[t]), tot, gam)
            seen_prev = rows[(r >= 0) | (tp >= 0)]
            rank_prev, tpos_prev = rank, tpos
            if not len(seen_prev):
                break
        return p

    def bits_per_char(self, ids: np.ndarray, **kw) -> float:
        """Mean bits per predicted id (see `logprobs` for the keyword arguments)."""
        lp = self.logprobs(ids, **kw)
        return float(-lp.mean()) if len(lp) else float("nan")

    def distributions(self, ids: np.ndarray, positions: np.ndarray, candidates: np.ndarray | None = None,
                      max_context: int | None = None, reset_at_sep: bool = False) -> np.ndarray:
        """Next-id probabilities at each position t (given ids[:t]; t may be len(ids)): shape
        (len(positions), V), or only the columns `candidates` (the same values: columns are independent)."""
        x = np.asarray(ids).astype(np.int64, copy=False)
        self._check(x)
        P = np.asarray(positions, dtype=np.int64).reshape(-1)
        if len(P) and (P.min() < 0 or P.max() > len(x)):
            raise ValueError("positions must lie in [0, len(ids)]")
        W = np.arange(self.vocab_size) if candidates is None else np.asarray(candidates, dtype=np.int64).reshape(-1)
        self._check(W)
        cap = self._caps(x, P, max_context, reset_at_sep)
        out = np.empty((len(P), len(W)))
        step = max(1, 1_000_000 // max(1, len(W)))
        for a in range(0, len(P), step):
            out[a:a + step] = self._dist(x, P[a:a + step], cap[a:a + step], W)
        return out

    def _dist(self, x: np.ndarray, P: np.ndarray, cap: np.ndarray, W: np.ndarray) -> np.ndarray:
        b, k, K = len(P), len(W), self.order
        if not len(x):
            x = np.zeros(1, np.int64)  # nothing is read from it (every cap is 0); keeps the indexing valid
        probs = np.full((b, k), 1.0 / self.vocab_size)
        cr = ct = None  # states of the contexts (strings ending at P-1)
        nr = nt = None  # states of the candidate strings (context suffix + w), flattened (b*k)
        for L in range(1, K + 1):
            j = L - 1
            if L == 1:
                nr, nt = self._step(1, np.zeros(b * k, np.int64), np.zeros(b * k, np.int64), np.tile(W, b))
            else:
                i = P - L + 1
                c = np.where(cap >= L - 1, x[np.maximum(i, 0)], -1)
                nr, nt = self._step(L, nr, nt, np.repeat(c, k))
            if j == 0:
                tot = np.full(b, float(self.tot[0][0]))
                gam = np.full(b, self.gam[0][0])
            else:
                tot, gam = self._context(j, cr, ct)
            use = (tot > 0) & (cap >= j)
            if use.any():
                rows = np.flatnonzero(use)
                cnt = self._count(L, nr.reshape(b, k)[rows], nt.reshape(b, k)[rows])
                probs[rows] = self._update(j, probs[rows], cnt, tot[rows, None], gam[rows, None])
            if L < K:  # the contexts one character longer
                i = P - L
                c = np.where((cap >= L) & (i >= 0), x[np.maximum(i, 0)], -1)
                if L == 1:
                    cr, ct = self._step(1, np.zeros(b, np.int64), np.zeros(b, np.int64), c)
                else:
                    cr, ct = self._step(L, cr, ct, c)
        return probs

    def distribution(self, context_ids) -> np.ndarray:
        """The next-id distribution (V probabilities summing to 1) after `context_ids` (its last
        order-1 ids are used)."""
        ctx = np.asarray(context_ids, dtype=np.int64).reshape(-1)
        return self.distributions(ctx, [len(ctx)])[0]
