"""The audit's counting rules, in SQL (DuckDB): validation, conversion, the merchant's partition,
lateness and dedupe, over a table `raw(p, off, ts, v, rerouted)` of records, `rates(currency, num, den)`
and `merchants(merchant_id, home)`; figures.py reads the day's figures from what these leave.

A separate implementation of the README's contract, on purpose: nothing here comes from stream/'s
counting code. Parameters are `$name`s bound by recount.py. Tables are TEMP: one connection, one day.
"""

from __future__ import annotations

DAY_MS = 86_400_000
MINUTE_MS = 60_000
EARLIEST_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
MAX_BYTES = 65_536
MAX_CENTS = 100_000_000  # $1M

# Field checks give a code, so that the first reason by kind is a greatest(): 0 fine, 1 missing_field,
# 2 bad_value, 3 wrong_type (msgspec's order: it fails at the first bad value while decoding, and finds
# missing fields at the end). A field is read as its JSON text `j` (NULL if absent); its kind is the
# first character of that text, which for valid JSON is unambiguous.
CODES = ("", "missing_field", "bad_value", "wrong_type")

FIELDS = ("event_id", "type", "order_id", "occurred_at", "merchant_id", "merchant_name", "country",
          "channel", "currency", "total_minor", "customer_id", "lines")
LINE_FIELDS = ("sku", "title", "qty", "price_minor")

MACROS = """
-- half-to-even rounding of a*num/den in exact integers (DuckDB's round() is half away from zero)
CREATE OR REPLACE TEMP MACRO conv(a, num, den) AS
    (a * num) // den + CASE WHEN 2 * ((a * num) % den) > den
                              OR (2 * ((a * num) % den) = den AND ((a * num) // den) % 2 = 1)
                            THEN 1 ELSE 0 END;
-- a JSON string's value: its text less the quotes, unless it has escapes to decode
CREATE OR REPLACE TEMP MACRO str_of(j) AS CASE
    WHEN ascii(j) <> 34 THEN NULL
    WHEN contains(j, '\\') THEN j->>'$'
    ELSE substr(j, 2, length(j) - 2) END;
-- a JSON integer: an optional minus and digits only (DuckDB's own casts would take 1.0, 1e2, +5, 1_000)
CREATE OR REPLACE TEMP MACRO is_int(j) AS
    (ascii(j) BETWEEN 48 AND 57 OR ascii(j) = 45) AND NOT contains(j, '.') AND NOT contains(j, 'e')
    AND NOT contains(j, 'E');
-- a string of 1-256 characters (code points)
CREATE OR REPLACE TEMP MACRO text_code(j) AS CASE
    WHEN j IS NULL THEN 1 WHEN ascii(j) <> 34 THEN 3
    WHEN length(j->>'$') NOT BETWEEN 1 AND 256 THEN 2 ELSE 0 END;
-- an integer in [lo, hi]; one too big even for a HUGEINT is out of range too
CREATE OR REPLACE TEMP MACRO int_code(j, lo, hi) AS CASE
    WHEN j IS NULL THEN 1 WHEN NOT is_int(j) THEN 3
    WHEN coalesce(TRY_CAST(j AS HUGEINT) BETWEEN lo AND hi, FALSE) THEN 0 ELSE 2 END;
-- a string whose value must pass `ok`, a condition on it
CREATE OR REPLACE TEMP MACRO word_code(j, ok) AS CASE
    WHEN j IS NULL THEN 1 WHEN ascii(j) <> 34 THEN 3 WHEN ok THEN 0 ELSE 2 END;
-- the common case without the decoding: a string without escapes, of 1-256 characters
CREATE OR REPLACE TEMP MACRO plain_text(j) AS
    ascii(j) = 34 AND NOT contains(j, '\\') AND length(j) BETWEEN 3 AND 258;
CREATE OR REPLACE TEMP MACRO plain_int(j, lo, hi) AS is_int(j) AND TRY_CAST(j AS HUGEINT) BETWEEN lo AND hi;
-- a field of the contract given twice, in the object or in one of its lines (json_keys keeps repeats and
-- decodes escapes)
CREATE OR REPLACE TEMP MACRO repeat_in(keys, names) AS
    len(list_filter(keys, lambda k: list_contains(names, k)))
    <> len(list_distinct(list_filter(keys, lambda k: list_contains(names, k))));
CREATE OR REPLACE TEMP MACRO repeats_key(t) AS
    repeat_in(json_keys(t), {ORDER_KEYS})
    OR coalesce(json_type(t, '$.lines') = 'ARRAY'
                AND list_bool_or(list_transform(
                    from_json(json_extract(t, '$.lines'), '["JSON"]'),
                    lambda x: json_type(x) = 'OBJECT' AND repeat_in(json_keys(x), {LINE_KEYS}))),
                FALSE);
-- one line's code from its own JSON text
CREATE OR REPLACE TEMP MACRO slow_line_code(lj) AS CASE
    WHEN ascii(lj) <> 123 THEN 3
    ELSE greatest(text_code(json_extract(lj, '$.sku')), text_code(json_extract(lj, '$.title')),
                  int_code(json_extract(lj, '$.qty'), 1, 100000),
                  int_code(json_extract(lj, '$.price_minor'), 0, 1000000000000)) END;
""".replace("{ORDER_KEYS}", str(list(FIELDS))).replace("{LINE_KEYS}", str(list(LINE_FIELDS)))

# DuckDB's JSON reader also takes NaN, Infinity and trailing commas, which are not JSON (a number too
# big for a double is: JSON sets no range). A document can only have them if it matches SUSPECT; for
# those, with the strings blanked out, they show as letters or as a comma before a closer.
SUSPECT = r"(?i)nan|inf|,\s*[\]}]"
STRICT_JSON = r"""
CREATE OR REPLACE TEMP MACRO bare(t) AS regexp_replace(t, '"(?:[^"\\]|\\.)*"', '""', 'g');
CREATE OR REPLACE TEMP MACRO strict_bare(b) AS
    NOT regexp_matches(regexp_replace(b, 'true|false|null', '', 'g'), '[A-DF-Za-df-z]')
    AND NOT regexp_matches(b, ',\s*[\]}]');
"""

_PATHS = ", ".join(f"'$.{name}'" for name in FIELDS)

# One row a record: the message-level reason (size, UTF-8, JSON, object) or, for an object, its fields:
# read as JSON text (NULL where absent), each one's kind the first character of its text; a code (0 if
# all are fine; the exact one only for the few that are not: the fast test looks at the text alone);
# and the values.
_J = ", ".join(f"f[{i}] AS j_{name}" for i, name in enumerate(FIELDS, 1))
FIELDS_SQL = f"""
CREATE OR REPLACE TEMP TABLE fields AS
WITH t AS (SELECT p, off, ts, octet_length(v) AS size, try(decode(v)) AS txt FROM raw),
s AS (SELECT *, CASE
        WHEN size IS NULL OR size = 0 THEN 'invalid_json'
        WHEN size > {MAX_BYTES} THEN 'oversize'
        WHEN txt IS NULL THEN 'not_utf8'
        WHEN NOT json_valid(txt) THEN 'invalid_json' END AS r0 FROM t),
u AS (SELECT *, CASE WHEN r0 IS NULL AND regexp_matches(txt, '{SUSPECT}') THEN bare(txt) END AS b FROM s),
r AS (SELECT *, CASE
        WHEN r0 IS NOT NULL THEN r0
        WHEN b IS NOT NULL AND NOT strict_bare(b) THEN 'invalid_json'
        WHEN ascii(ltrim(txt, E' \\t\\n\\r')) <> 123 THEN 'not_object'
        WHEN repeats_key(txt) THEN 'duplicate_key' END AS reason FROM u),
j AS (SELECT p, off, ts, reason, {_J}
      FROM (SELECT *, CASE WHEN reason IS NULL THEN json_extract(txt, [{_PATHS}]) END AS f FROM r))
SELECT p, off, ts, reason AS msg_reason, j_lines, CASE
    WHEN reason IS NOT NULL THEN NULL
    WHEN plain_text(j_event_id) AND j_type IN ('"order_placed"', '"order_refunded"')
         AND plain_text(j_order_id) AND is_int(j_occurred_at) AND plain_text(j_merchant_id)
         AND plain_text(j_merchant_name) AND regexp_full_match(j_country, '"[A-Z][A-Z]"')
         AND j_channel IN ('"online"', '"pos"', '"mobile"', '"social"')
         AND ascii(j_currency) = 34 AND NOT contains(j_currency, '\\') AND length(j_currency) <= 10
         AND plain_int(j_total_minor, 1, 1000000000000000) AND plain_text(j_customer_id)
         AND ascii(j_lines) = 91 THEN 0
    ELSE greatest(text_code(j_event_id),
                  word_code(j_type, j_type->>'$' IN ('order_placed', 'order_refunded')),
                  text_code(j_order_id), int_code(j_occurred_at, -9223372036854775808, 18446744073709551615),
                  text_code(j_merchant_id), text_code(j_merchant_name),
                  word_code(j_country, regexp_full_match(j_country->>'$', '[A-Z][A-Z]')),
                  word_code(j_channel, j_channel->>'$' IN ('online', 'pos', 'mobile', 'social')),
                  word_code(j_currency, length(j_currency->>'$') <= 8),
                  int_code(j_total_minor, 1, 1000000000000000), text_code(j_customer_id),
                  CASE WHEN j_lines IS NULL THEN 1 WHEN ascii(j_lines) <> 91 THEN 3 ELSE 0 END) END AS code,
    -- the values; the integers are read only where code = 0, that is where they are integers in range
    -- (names and titles are read again from the record for the top ten only)
    str_of(j_event_id) AS event_id, str_of(j_type) = 'order_refunded' AS refund,
    TRY_CAST(j_occurred_at AS HUGEINT) AS occ, str_of(j_merchant_id) AS merchant_id,
    str_of(j_country) AS country, str_of(j_channel) AS channel,
    str_of(j_currency) AS currency, str_of(j_customer_id) AS customer_id,
    TRY_CAST(j_total_minor AS HUGEINT) AS total
FROM j
"""

# Every line of every object whose `lines` is a list: its code, its values and its converted value.
# One parse a list into the four fields' JSON text; a line that does not pass the fast test (a field
# absent or null, or not an object at all: all four NULL) is looked at again on its own text.
_LINE = '[{"sku": "JSON", "title": "JSON", "qty": "JSON", "price_minor": "JSON"}]'
LINES = f"""
CREATE OR REPLACE TEMP TABLE line AS
WITH l AS (
    SELECT p, off, currency, j_lines, unnest(a) AS g, generate_subscripts(a, 1) AS idx
    FROM (SELECT p, off, currency, j_lines, from_json(j_lines, '{_LINE}') AS a FROM fields
          WHERE code IS NOT NULL AND ascii(j_lines) = 91)),
c AS (SELECT p, off, idx, currency, g.sku, g.title, g.qty, g.price_minor AS price, CASE
        WHEN plain_text(g.sku) AND plain_text(g.title) AND plain_int(g.qty, 1, 100000)
             AND plain_int(g.price_minor, 0, 1000000000000) THEN 0
        ELSE slow_line_code(json_extract(j_lines, '$[' || (idx - 1) || ']')) END AS code FROM l)
SELECT c.p, c.off, c.idx, c.code, str_of(c.sku) AS sku,
       CASE WHEN c.code = 0 THEN CAST(c.qty AS HUGEINT) END AS qty,
       -- only in range, so no overflow: qty × price ≤ 10^17, × the rate's numerator still fits a HUGEINT
       conv(CASE WHEN c.code = 0 THEN CAST(c.qty AS HUGEINT) * CAST(c.price AS HUGEINT) END, r.num, r.den)
           AS cents
FROM c LEFT JOIN rates r USING (currency)
"""

# Every object's verdict: the first rule it breaks (NULL for a valid order), and its converted total.
VERDICTS = f"""
CREATE OR REPLACE TEMP TABLE verdict AS
WITH ls AS (SELECT p, off, max(code) AS code, count(*) AS n, max(cents) AS top_line, sum(cents) AS sum_lines
            FROM line GROUP BY p, off),
c AS (SELECT f.p, f.off, f.ts, f.occ,
             greatest(f.code, coalesce(ls.code, 0), CASE WHEN ls.n > 500 THEN 2 ELSE 0 END) AS code,
             CASE WHEN f.code = 0 THEN conv(f.total, r.num, r.den) END AS cents,  -- in range: no overflow
             r.num IS NOT NULL AS known, ls.top_line, ls.sum_lines
      FROM fields f LEFT JOIN ls USING (p, off) LEFT JOIN rates r USING (currency) WHERE f.code IS NOT NULL)
SELECT p, off, ts, CAST(CASE WHEN code = 0 THEN cents END AS BIGINT) AS cents, CASE
        WHEN code > 0 THEN {list(CODES)}[code + 1]
        WHEN occ < {EARLIEST_MS} THEN 'too_old'
        WHEN occ > ts + $max_future THEN 'future_time'
        WHEN NOT known THEN 'unknown_currency'
        WHEN cents > {MAX_CENTS} OR coalesce(top_line, 0) > {MAX_CENTS}
             OR coalesce(sum_lines, 0) > {MAX_CENTS} THEN 'absurd_amount' END AS reason
FROM c
"""

# Valid orders, with the partition their merchant belongs to (`merchants` is filled from Python), and
# whether their event_id comes more than once in their partition (only those need the dedupe chain).
CANDIDATES = """
CREATE OR REPLACE TEMP TABLE cand AS
WITH v AS (SELECT f.p, f.off, CAST(f.occ AS BIGINT) AS occ, f.event_id, m.home
           FROM verdict v JOIN fields f USING (p, off) JOIN merchants m USING (merchant_id)
           WHERE v.reason IS NULL),
multi AS (SELECT p, event_id FROM v WHERE home = p GROUP BY ALL HAVING count(*) > 1)
SELECT v.p, v.off, v.occ, v.home, multi.p IS NOT NULL AS multi, TRUE AS in_w
FROM v LEFT JOIN multi USING (p, event_id)
"""

# One pass of the lateness/dedupe recursion: the watermark before each order is the max occurred_at of
# the orders marked `in_w` before it in its partition, or the chain's mark before it if higher (a follow
# step or a snapshot: stream.audit.recount); an order is too late if its day closed by then.
CLASSIFY = f"""
CREATE OR REPLACE TEMP TABLE cls AS
WITH r AS (
    SELECT p, off, occ, multi, in_w,
           coalesce(max(occ) FILTER (WHERE in_w) OVER (PARTITION BY p ORDER BY off
                    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS run
    FROM cand WHERE home = p),
w AS (SELECT r.p, r.off, r.occ, r.multi, r.in_w, greatest(r.run, coalesce(m.wm, 0)) AS wm
      FROM r ASOF LEFT JOIN marks m ON r.p = m.p AND r.off >= m.at)
SELECT *, occ - occ % {DAY_MS} + {DAY_MS} + $lateness <= wm AS too_late FROM w
"""
# Along each event_id's copies that are not too late, in offset order: a copy is a duplicate while the
# last counted copy is remembered, that is while the watermark it left (the greater of the watermark
# before it and its own time) is within the horizon behind the watermark before the copy; else it counts.
CHAIN = """
CREATE OR REPLACE TEMP TABLE chain AS
WITH RECURSIVE copies AS (
    SELECT c.p, c.off, c.occ, c.wm, f.event_id,
           row_number() OVER (PARTITION BY c.p, f.event_id ORDER BY c.off) AS k
    FROM cls c JOIN fields f USING (p, off) WHERE c.multi AND NOT c.too_late),
ch(p, event_id, k, off, dup, last_occ) AS (
    SELECT p, event_id, k, off, FALSE, greatest(occ, wm) FROM copies WHERE k = 1
    UNION ALL
    SELECT c.p, c.event_id, c.k, c.off, ch.last_occ >= c.wm - $horizon,
           CASE WHEN ch.last_occ >= c.wm - $horizon THEN ch.last_occ ELSE greatest(c.occ, c.wm) END
    FROM ch JOIN copies c ON c.p = ch.p AND c.event_id = ch.event_id AND c.k = ch.k + 1)
SELECT p, off, k, dup FROM ch
"""
COUNTED = """
CREATE OR REPLACE TEMP TABLE counted AS
SELECT cls.*, NOT too_late AND NOT coalesce(chain.dup, FALSE) AS counted,
       NOT too_late AND coalesce(chain.k > 1 AND NOT chain.dup, FALSE) AS resent
FROM cls LEFT JOIN chain USING (p, off)
"""
# Marking the counted ones changes some watermark only if a row that changed sides was above it.
UNSETTLED = "SELECT count(*) FROM counted WHERE counted <> in_w AND occ > wm"
NEXT_PASS = """
UPDATE cand SET in_w = counted.counted FROM counted WHERE cand.p = counted.p AND cand.off = counted.off
"""
