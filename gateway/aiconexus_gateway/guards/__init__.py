"""Guards: every decision to refuse, each returned as a verdict for the caller to act on.

Owns signature verification, frame sizes, token buckets per DID and per address, per-IP
connection limits, HTTP budgets, trusted proxies, refusal budgets, the access policy (its
file and the policy in force), REGISTER checks, the payload check of encrypted frames and
operator tokens. May import only the shared top-level pieces (settings, errors) and the
protocol core; nothing of the gateway's other folders.
"""
