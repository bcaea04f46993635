"""Fraud: the analysts' rules label PaySim transactions (rules as a versioned data file), an
explainable Spark ML decision tree learns them (3-fold cross-validation over depth and bins,
then a balanced retrain), the better variant is gated and served without a JVM with its
decision paths, and analysts' reviews of low-confidence predictions flow back into the labels
(../shared/use-cases.md §5).

Tables: ``silver.paysim`` (ingested) -> ``silver.fraud_labels`` (features, rule label, rule
version, reviewed label when there is one) -> the model ``fraud_tree``; low-confidence
predictions -> ``gold.fraud_review_queue``; analysts' CSV drops -> ``silver.fraud_reviewed_labels``
(the source ``fraud_reviewed_labels``, ingested like any other). DAG: ``fraud_relabel`` (daily
relabel and queue refresh; retrain weekly or when the rule version changes).

This module stays light (DAG files read it); the logic lives in the package's modules.
"""

from lakeside.usecases import GoldTable, Split, UseCase

KEY = ("step", "nameOrig", "nameDest", "type", "amount")
INPUTS = ("type", "amount", "oldbalanceOrg", "newbalanceOrig", "oldbalanceDest", "newbalanceDest")
TRANSACTIONS = "silver.paysim"
LABELS = "silver.fraud_labels"
REVIEW_QUEUE = "gold.fraud_review_queue"
REVIEWS_SOURCE = "fraud_reviewed_labels"
REVIEWS = f"silver.{REVIEWS_SOURCE}"

REVIEW_QUEUE_TABLE = GoldTable(
    name=REVIEW_QUEUE,
    description="Per ingest day: the unreviewed transactions the champion tree is unsure of, with the rules' label and p(fraud).",
    columns=(("step", "integer"), ("nameOrig", "string"), ("nameDest", "string"), ("type", "string"),
             ("amount", "double"), ("oldbalanceOrg", "double"), ("newbalanceOrig", "double"),
             ("oldbalanceDest", "double"), ("newbalanceDest", "double"), ("label", "integer"),
             ("rule_label", "integer"), ("rules_fired", "string"), ("rule_version", "string"),
             ("_ingest_date", "date"), ("p_fraud", "double"), ("prediction", "integer"), ("model_version", "string")),
    after="job",
    dag_id="fraud_relabel",
)

USE_CASE = UseCase(
    name="fraud",
    description="Fraud label of a mobile-money transaction, an explainable tree trained on the analysts' rules.",
    task="binary",
    model_name="fraud_tree",
    table=LABELS,
    key=KEY,
    target="label",
    positive_label=1,
    split=Split("hash", holdout_fraction=0.2),
    trainer="lakeside.usecases.fraud.training:train",
    metric="pr_auc",
    service="pyfunc",
    schedule="0 5 * * 1",
    dag_id="retrain_fraud",
    params={
        "rules": None,  # the rule file; None: the seed rules shipped beside this module
        "max_depth": [5, 10, 15],
        "max_bins": [10, 20, 30],
        "folds": 3,
        "parallelism": 1,
        "review_band": [0.2, 0.8],
    },
    gold=(REVIEW_QUEUE_TABLE,),
)
