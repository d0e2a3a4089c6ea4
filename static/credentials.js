// The page's own credentials for its /api fetches: its ?token=, or a merchant link's exp and sig with the
// merchant, so each fetch is let in exactly as the page was.
export function credentials(params, merchant) {
  const q = new URLSearchParams();
  for (const key of ["token", "exp", "sig"]) if (params.get(key) !== null) q.set(key, params.get(key));
  if (merchant !== null) q.set("merchant", merchant);
  return q;
}
