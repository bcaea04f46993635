"""PaySim mobile-money log: schema, a generator that follows PaySim's mechanics, the rule label.

One row is one transaction of one hour (``step`` 1..744, a 31-day month). The generator models:

- the public set's type mix (CASH_OUT 35%, PAYMENT 34%, CASH_IN 22%, TRANSFER 8%, DEBIT 0.65%)
  and log-normal amounts per type (small PAYMENT/DEBIT, large TRANSFER);
- consistent balances, in whole cents: the origin loses the amount (gains it for CASH_IN) and
  never goes negative; a customer destination gains the amount (the cash agent of a CASH_IN
  pays it out); merchants ("M…", the destination of every PAYMENT) carry no balance, 0 / 0.
  Balances are heavy-tailed and some customers empty their account;
- PaySim's fraud: a fraudster takes over an account, TRANSFERs its whole balance (at most
  10,000,000 per transaction) to a fresh mule account, and in the same step a CASH_OUT from
  the mule drains it. Both rows get ``isFraud`` = 1 (0.13% of rows by default); a fraudulent
  TRANSFER above 200,000 gets ``isFlaggedFraud`` = 1. Fraud runs round the clock while
  customers sleep at night, so the fraud rate is highest at night;
- legitimate activity follows a daily cycle; rows are ordered by step as in the public file.

Like the public set, each origin account makes one transaction (every ``nameOrig`` is
distinct) while destinations recur; balances are not carried from one row to the next except
along a fraud pair (the mule's balance after the TRANSFER is its balance before the CASH_OUT).

With the default parameters the analysts' rule set (the fraud use case's ``rules.json``) flags
about 4% of rows and 12% of the money (the public set: ~4% and ~11%).

A day of the log is ``step // 24``; :func:`daily_raw` writes the transactions of the day a
logical date stands for (its day of the month), so a month's 31 files land like loans. The
whole public CSV (6.36M rows) goes through the same ingest in one run (``--file``).

Ingest refuses, besides unreadable or out-of-range values and unknown types, rows whose
balances cannot add up where PaySim's own data does: a debit (CASH_OUT, DEBIT, PAYMENT,
TRANSFER) that raises the origin's balance or takes more than the amount from it, a CASH_IN
that lowers it, and a merchant destination with a balance. PaySim's public file has rows whose
balances do not move at all (e.g. ``CASH_IN`` with origin 0 -> 0, destinations that do not
receive the amount): those are PaySim's, and kept.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

import datetime as dt

from lakeside.datasets._spec import Column, RowCheck, SourceSpec, read_text_csv

TYPES = ("CASH_IN", "CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER")
TYPE_SHARES = {"CASH_IN": 0.2199, "CASH_OUT": 0.3517, "DEBIT": 0.0065, "PAYMENT": 0.3381, "TRANSFER": 0.0838}
# Log-normal amounts per type: (median, sigma of the log).
AMOUNT_LOGNORMAL = {
    "CASH_IN": (143_000.0, 0.65),
    "CASH_OUT": (147_000.0, 0.6),
    "DEBIT": (3_000.0, 1.1),
    "PAYMENT": (9_500.0, 0.75),
    "TRANSFER": (400_000.0, 0.7),
}
# Chance that a customer's debit empties the account (the balance was exactly the amount).
DRAIN_SHARE = {"CASH_OUT": 0.07, "DEBIT": 0.03, "PAYMENT": 0.03, "TRANSFER": 0.12}
FRAUD_SHARE = 0.0013
MAX_FRAUD_TRANSFER = 10_000_000.0
FLAG_LIMIT = 200_000.0
STEPS = 744
HOURS_PER_DAY = 24
DEBITS = ("CASH_OUT", "DEBIT", "PAYMENT", "TRANSFER")
BALANCE_TOLERANCE = 0.01  # a cent: balances are printed with at most two decimals
# Relative activity of legitimate customers per hour of the day.
HOURLY_ACTIVITY = np.array([
    0.25, 0.12, 0.06, 0.04, 0.04, 0.08, 0.25, 0.55, 0.85, 1.0, 1.0, 1.0,
    1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.95, 0.85, 0.65, 0.45,
])

SPEC = SourceSpec(
    name="paysim",
    description="PaySim mobile-money transactions, one row per transaction.",
    key=("step", "nameOrig", "nameDest", "type", "amount"),
    columns=(
        Column("step", "int", min=1, max=STEPS),
        Column("type", "string", allowed=TYPES),
        Column("amount", "double", min=0),
        Column("nameOrig", "string", pattern=r"^C\d+$"),
        Column("oldbalanceOrg", "double", min=0),
        Column("newbalanceOrig", "double", min=0),
        Column("nameDest", "string", pattern=r"^[CM]\d+$"),
        Column("oldbalanceDest", "double", min=0),
        Column("newbalanceDest", "double", min=0),
        Column("isFraud", "int", min=0, max=1),
        Column("isFlaggedFraud", "int", min=0, max=1),
    ),
    row_checks=(
        RowCheck("balances do not add up: a debit raised the origin's balance",
                 f"{{type}} IN {DEBITS} AND {{newbalanceOrig}} > {{oldbalanceOrg}} + {BALANCE_TOLERANCE}"),
        RowCheck("balances do not add up: the origin lost more than the amount",
                 f"{{type}} IN {DEBITS} AND {{newbalanceOrig}} < {{oldbalanceOrg}} - {{amount}} - {BALANCE_TOLERANCE}"),
        RowCheck("balances do not add up: a CASH_IN lowered the origin's balance",
                 f"{{type}} = 'CASH_IN' AND {{newbalanceOrig}} < {{oldbalanceOrg}} - {BALANCE_TOLERANCE}"),
        RowCheck("a merchant destination (M...) has a balance",
                 "{nameDest} LIKE 'M%' AND ({oldbalanceDest} <> 0 OR {newbalanceDest} <> 0)"),
    ),
)

_DTYPES = {
    "step": "int32", "type": object, "amount": "float64", "nameOrig": object,
    "oldbalanceOrg": "float64", "newbalanceOrig": "float64", "nameDest": object,
    "oldbalanceDest": "float64", "newbalanceDest": "float64", "isFraud": "int32", "isFlaggedFraud": "int32",
}
_ACCOUNT_ID_MODULUS = 2_147_483_647  # prime: i -> (a*i + c) mod p is a bijection
_MONEY_COLUMNS = ("amount", "oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest")


def generate(rows: int, seed: int = 0, fraud_share: float = FRAUD_SHARE) -> pd.DataFrame:
    """``rows`` transactions: step/isFraud/isFlaggedFraud int32, money float64, text object.

    ``fraud_share`` is the share of rows that are fraud (two rows per fraud case).
    """
    if rows < 0 or not 0 <= fraud_share <= 1:
        raise ValueError("rows must be >= 0 and fraud_share between 0 and 1")
    rng = np.random.default_rng(seed)
    cases = min(int(round(rows * fraud_share / 2)), rows // 2)
    legit = _legit_transactions(rng, rows - 2 * cases)
    fraud = _fraud_pairs(rng, cases)
    parts = {name: np.concatenate([legit[name], fraud[name]]) for name in legit}
    names = _AccountNames(rng)
    parts["nameOrig"] = names.customers(parts.pop("orig_account"))
    parts["nameDest"] = names.destinations(parts.pop("dest_account"), parts.pop("dest_is_merchant"))
    order = np.argsort(parts["step"], kind="stable")
    frame = pd.DataFrame({
        name: parts[name][order] / 100 if name in _MONEY_COLUMNS else parts[name][order]
        for name in SPEC.column_names
    })
    return frame.astype(_DTYPES)


def load(path: str) -> pd.DataFrame:
    """Read the public PaySim CSV (local path or URL, may be zipped) into :func:`generate`'s shape."""
    raw = read_text_csv(path, SPEC, "PaySim")
    return SPEC.typed(raw)


def to_raw(df: pd.DataFrame) -> pd.DataFrame:
    """The text of the public file for these rows ("9839.64", "170136.0", "0")."""
    return pd.DataFrame({
        name: df[name].map(repr) if name in _MONEY_COLUMNS else df[name].astype(str)
        for name in SPEC.column_names
    })


def day_of(step):
    """The day of the log a step (hour) belongs to: ``step // 24`` (0..31)."""
    return step // HOURS_PER_DAY


def day_index(day: dt.date) -> int:
    """The day of the log a logical date stands for: its day of the month, 0-based (0..30)."""
    return day.day - 1


def daily_batch(day: dt.date, rows: int, seed: int = 0) -> pd.DataFrame:
    """The transactions of ``day``: every step ``s`` has ``s // 24 == day_index(day)``, at the
    hour of the day the generator drew (step 0 does not exist: the first day starts at step 1)."""
    ordinal = day.toordinal()
    frame = generate(rows, seed=seed * 100_003 + ordinal)
    first = day_index(day) * HOURS_PER_DAY
    step = (first + frame["step"].to_numpy() % HOURS_PER_DAY).clip(1, STEPS)
    frame["step"] = step.astype("int32")
    return frame.sort_values("step", kind="stable").reset_index(drop=True)


def daily_raw(day: dt.date, rows: int, seed: int = 0) -> pd.DataFrame:
    """The text of one day's raw PaySim file."""
    return to_raw(daily_batch(day, rows, seed))


def _legit_transactions(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    shares = np.array([TYPE_SHARES[t] for t in TYPES])
    code = rng.choice(len(TYPES), n, p=shares / shares.sum())
    median, sigma = (np.array([AMOUNT_LOGNORMAL[t][i] for t in TYPES])[code] for i in (0, 1))
    amount = np.maximum(_cents(rng.lognormal(np.log(median), sigma)), 1)

    cash_in = code == TYPES.index("CASH_IN")
    drained = rng.random(n) < np.array([DRAIN_SHARE.get(t, 0.0) for t in TYPES])[code]
    cushion = np.where(drained, 0, _balances(rng, n, zero_share=0.0, median=25_000.0, sigma=2.2))
    old_org = np.where(cash_in, _balances(rng, n, zero_share=0.35, median=60_000.0, sigma=2.0), amount + cushion)
    new_org = np.where(cash_in, old_org + amount, old_org - amount)

    merchant = code == TYPES.index("PAYMENT")
    agent_float = amount + _balances(rng, n, zero_share=0.0, median=300_000.0, sigma=1.5)
    old_dest = np.where(cash_in, agent_float, _balances(rng, n, zero_share=0.4, median=200_000.0, sigma=1.6))
    new_dest = np.where(cash_in, old_dest - amount, old_dest + amount)
    old_dest, new_dest = np.where(merchant, 0, old_dest), np.where(merchant, 0, new_dest)

    return {
        "step": _legit_steps(rng, n),
        "type": np.array(TYPES)[code],
        "amount": amount,
        "orig_account": np.arange(n, dtype=np.int64),
        "oldbalanceOrg": old_org,
        "newbalanceOrig": new_org,
        "dest_is_merchant": merchant,
        "dest_account": _destination_accounts(rng, n),
        "oldbalanceDest": old_dest,
        "newbalanceDest": new_dest,
        "isFraud": np.zeros(n, dtype=np.int32),
        "isFlaggedFraud": np.zeros(n, dtype=np.int32),
    }


def _fraud_pairs(rng: np.random.Generator, cases: int) -> dict[str, np.ndarray]:
    """Rows TRANSFER victim -> mule, CASH_OUT mule -> agent, interleaved (pair i at 2i, 2i+1)."""
    victim_balance = _cents(rng.lognormal(np.log(400_000.0), 1.5, cases))
    victim_balance = np.maximum(victim_balance, 100)
    amount = np.minimum(victim_balance, _cents(MAX_FRAUD_TRANSFER))
    agent_old = _balances(rng, cases, zero_share=0.4, median=200_000.0, sigma=1.6)
    # Account numbers above every legitimate origin: victims, then mules.
    victim = _ACCOUNT_ID_MODULUS // 2 + np.arange(cases, dtype=np.int64)
    mule = victim + cases
    zeros = np.zeros(cases, dtype=np.int64)

    def pairs(transfer_side, cash_out_side):
        return np.column_stack([transfer_side, cash_out_side]).ravel()

    step = rng.integers(1, STEPS + 1, cases)
    return {
        "step": pairs(step, step),
        "type": pairs(np.full(cases, "TRANSFER"), np.full(cases, "CASH_OUT")),
        "amount": pairs(amount, amount),
        "orig_account": pairs(victim, mule),
        "oldbalanceOrg": pairs(victim_balance, amount),
        "newbalanceOrig": pairs(victim_balance - amount, zeros),
        "dest_is_merchant": np.zeros(2 * cases, dtype=bool),
        "dest_account": pairs(mule, _destination_accounts(rng, cases)),
        "oldbalanceDest": pairs(zeros, agent_old),
        "newbalanceDest": pairs(amount, agent_old + amount),
        "isFraud": np.ones(2 * cases, dtype=np.int32),
        "isFlaggedFraud": pairs((amount > _cents(FLAG_LIMIT)).astype(np.int32), zeros.astype(np.int32)),
    }


def _legit_steps(rng: np.random.Generator, n: int) -> np.ndarray:
    weights = np.tile(HOURLY_ACTIVITY, STEPS // 24)
    return rng.choice(np.arange(1, STEPS + 1), n, p=weights / weights.sum())


def _destination_accounts(rng: np.random.Generator, n: int) -> np.ndarray:
    """Recurring destinations: a pool a third the size of the log, above the origin numbers."""
    pool = max(n // 3, 1)
    return _ACCOUNT_ID_MODULUS // 4 * 3 + rng.integers(0, pool, n)


def _balances(rng: np.random.Generator, n: int, zero_share: float, median: float, sigma: float) -> np.ndarray:
    """Heavy-tailed balances in cents, ``zero_share`` of them empty."""
    balance = _cents(rng.lognormal(np.log(median), sigma, n))
    return np.where(rng.random(n) < zero_share, 0, balance)


def _cents(value) -> np.ndarray:
    return np.round(np.asarray(value, dtype=np.float64) * 100).astype(np.int64)


class _AccountNames:
    """Account numbers -> names like "C1231006815": a seeded bijection, so distinct stays distinct."""

    def __init__(self, rng: np.random.Generator) -> None:
        self._customer = (int(rng.integers(1, _ACCOUNT_ID_MODULUS)), int(rng.integers(0, _ACCOUNT_ID_MODULUS)))
        self._merchant = (int(rng.integers(1, _ACCOUNT_ID_MODULUS)), int(rng.integers(0, _ACCOUNT_ID_MODULUS)))

    def customers(self, account: np.ndarray) -> np.ndarray:
        return self._names("C", account, *self._customer)

    def destinations(self, account: np.ndarray, merchant: np.ndarray) -> np.ndarray:
        names = np.empty(len(account), dtype=object)
        names[merchant] = self._names("M", account[merchant], *self._merchant)
        names[~merchant] = self.customers(account[~merchant])
        return names

    @staticmethod
    def _names(prefix: str, account: np.ndarray, a: int, c: int) -> np.ndarray:
        number = (a * (account % _ACCOUNT_ID_MODULUS) + c) % _ACCOUNT_ID_MODULUS
        return np.strings.add(prefix, number.astype(str)).astype(object)
