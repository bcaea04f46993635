"""PaySim and the analysts' review drops through the ordinary ingest: bad rows go to quarantine
with a reason naming the field and value, good rows to silver."""

import datetime as dt

from lakeside import ingest
from lakeside.datasets import fraud_reviewed_labels, paysim

DAY = dt.date(2024, 1, 9)
HEADER = ",".join(paysim.SPEC.column_names)
GOOD = [
    "1,PAYMENT,9839.64,C1231006815,170136.0,160296.36,M1979787155,0.0,0.0,0,0",
    "1,TRANSFER,181.0,C1305486145,181.0,0.0,C553264065,0.0,0.0,1,0",
    "1,DEBIT,5337.77,C712410124,41720.0,36382.23,C195600860,41898.0,40348.79,0,0",
    "2,CASH_IN,143236.26,C1862994526,0.0,0.0,C1602498539,608932.17,97263.78,0,0",  # PaySim's own: kept
    "3,CASH_OUT,500.0,C1,100.0,0.0,C2,0.0,500.0,0,0",  # more than the balance: the balance goes to 0
]
BAD = {
    "3,WIRE,10.0,C10,100.0,90.0,C11,0.0,10.0,0,0": "`type`: 'WIRE' is not one of CASH_IN",
    "3,PAYMENT,-10.0,C12,100.0,110.0,M13,0.0,0.0,0,0": "`amount`: -10.0 is out of range",
    "3,PAYMENT,10.0,C14,,90.0,M15,0.0,0.0,0,0": "`oldbalanceOrg`: missing value",
    "3,CASH_OUT,10.0,C16,100.0,n/a,C17,0.0,10.0,0,0": "`newbalanceOrig`: missing value",
    "3,TRANSFER,10.0,C18,100.0,120.0,C19,0.0,10.0,0,0": "a debit raised the origin's balance",
    "3,CASH_OUT,10.0,C20,100.0,50.0,C21,0.0,10.0,0,0": "the origin lost more than the amount",
    "3,CASH_IN,10.0,C22,100.0,50.0,C23,0.0,10.0,0,0": "a CASH_IN lowered the origin's balance",
    "3,PAYMENT,10.0,C24,100.0,90.0,M25,5.0,15.0,0,0": "a merchant destination (M...) has a balance",
    "800,PAYMENT,10.0,C26,100.0,90.0,M27,0.0,0.0,0,0": "`step`: 800 is out of range",
}


def _ingest(spark, tmp_path, spec, lines):
    path = tmp_path / f"{spec.name}.csv"
    path.write_text("\n".join(lines) + "\n")
    batch = ingest.transform(ingest.extract(spark, [str(path)], spec), spec, DAY, "run-1")
    return batch.silver.toPandas(), batch.quarantine.toPandas()


def test_bad_paysim_rows_go_to_quarantine_with_their_reason(spark, tmp_path):
    silver, quarantine = _ingest(spark, tmp_path, paysim.SPEC, [HEADER, *GOOD, *BAD])

    assert sorted(silver["nameOrig"]) == sorted(line.split(",")[3] for line in GOOD)
    reasons = dict(zip(quarantine["nameOrig"], quarantine["_reason"]))
    assert len(reasons) == len(BAD)
    for line, words in BAD.items():
        assert words in reasons[line.split(",")[3]], (line, reasons[line.split(",")[3]])


def test_review_drops_are_ingested_with_the_same_quarantine_rules(spark, tmp_path):
    header = ",".join(fraud_reviewed_labels.SPEC.column_names)
    lines = [
        header,
        "212,TRANSFER,181.0,C1305486145,C553264065,1,ana.lyst,2024-01-09T10:15:00Z",
        "213,CASH_OUT,181.0,C840083671,C38997010,0,ana.lyst,2024-01-09T10:16:00Z",
        "214,TRANSFER,5.0,C1,C2,2,ana.lyst,2024-01-09T10:17:00Z",
        "215,TRANSFER,5.0,C3,C4,1,,2024-01-09T10:17:00Z",
        "216,TRANSFER,5.0,C5,C6,1,ana.lyst,yesterday",
        "212,TRANSFER,181.0,C1305486145,C553264065,0,bo.b,2024-01-09T11:00:00Z",
    ]
    silver, quarantine = _ingest(spark, tmp_path, fraud_reviewed_labels.SPEC, lines)

    assert silver[["step", "label", "reviewer"]].values.tolist() == [[212, 1, "ana.lyst"], [213, 0, "ana.lyst"]]
    assert str(silver["reviewed_at"].iloc[0]) == "2024-01-09 10:15:00"
    reasons = dict(zip(quarantine["step"], quarantine["_reason"]))
    assert "`label`: 2 is out of range" in reasons["214"]
    assert "`reviewer`: missing value" in reasons["215"]
    assert "`reviewed_at`: cannot read 'yesterday' as timestamp" in reasons["216"]
    assert "duplicate key" in reasons["212"]
