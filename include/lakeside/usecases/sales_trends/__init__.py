"""Sales trends: which products sell along the factory's weekly capacity pattern, by dynamic
time warping (../shared/use-cases.md §2).

Weekly, and whenever ``silver.weekly_sales`` changes, the DAG ``sales_trends`` pins a snapshot
of it and the trainer (:mod:`.train`) computes every product's DTW distance to the capacity
pattern for each stretch factor in Spark (:mod:`.dtw`, dtaidistance's C kernel per partition),
tracks one MLflow run per stretch factor under one parent (median distance, z-score outliers,
histogram, closest and farthest products, the model), writes the products that follow the
pattern to ``gold.sales_selection`` and returns the chosen stretch factor's model; it is
registered as ``sales_dtw``, gated (:func:`.train.evaluate`) and served (:mod:`.model`: 52
weekly counts in, distance and follower flag out).

Settings (``params``, overridable in the DAG's trigger form):

- ``stretch_factors``: the warping windows tried, as fractions of the year;
- ``chosen_stretch_factor``: the one whose model is registered and whose selection is written;
- ``max_distance``, ``level_tolerance``: a follower's largest DTW distance and how far (a share
  of the pattern's mean) its mean weekly units may be from the pattern's;
- ``pattern``: overrides of :class:`lakeside.datasets.weekly_sales.CapacityPattern`
  (``base``, ``summer``, ``dip``, ``summer_months``);
- ``outlier_z``: the z-score beyond which a distance is an outlier.
"""

from lakeside.usecases import Demo, GoldTable, UseCase

SELECTION = GoldTable(
    name="gold.sales_selection",
    description="Per snapshot of silver.weekly_sales: the products that follow the capacity pattern, their DTW distance and level.",
    columns=(("Product_Code", "string"), ("distance", "double"), ("level", "double"), ("stretch_factor", "double"),
             ("snapshot_version", "long"), ("run_id", "string")),
    after="job",
)

USE_CASE = UseCase(
    name="sales_trends",
    description="Products whose weekly sales follow the factory's capacity pattern (DTW distance).",
    task="custom",
    model_name="sales_dtw",
    table="silver.weekly_sales",
    key=("Product_Code",),
    sources=("weekly_sales",),
    trainer="lakeside.usecases.sales_trends.train:train",
    evaluator="lakeside.usecases.sales_trends.train:evaluate",
    metric="coverage",
    gate="sales_dtw",
    service="pyfunc",
    schedule="0 5 * * 1",
    dag_id="sales_trends",
    demo=Demo(dates=("2024-01-01",)),  # a Monday: the weekly export lands
    params={
        "stretch_factors": [0.0, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5],
        "chosen_stretch_factor": 0.1,
        "max_distance": 20.0,
        "level_tolerance": 0.25,
        "pattern": {},
        "outlier_z": 3.0,
        "spark": True,
    },
    gold=(SELECTION,),
)
