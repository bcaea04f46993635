"""Generators (same seed, same bytes), loaders, and images landing in Delta with quarantine."""

import hashlib

import pytest

from lakeside.datasets import car_images, pathology_slides


def _digest(paths):
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


def test_car_generator_same_seed_same_bytes_and_six_body_types(tmp_path):
    first = car_images.generate(tmp_path / "a", per_class=2, seed=3, size=64)
    again = car_images.generate(tmp_path / "b", per_class=2, seed=3, size=64)
    other = car_images.generate(tmp_path / "c", per_class=2, seed=4, size=64)
    assert _digest(first) == _digest(again)
    assert _digest(first) != _digest(other)
    assert sorted({label for _, label in car_images.class_files(tmp_path / "a")}) == sorted(car_images.BODY_TYPES)


def test_slides_same_seed_same_bytes_points_in_their_regions(tmp_path):
    import numpy as np
    from PIL import Image

    csv = pathology_slides.generate(tmp_path / "a", slides=1, size=512, per_label=6, seed=1, margin=32)
    again = pathology_slides.generate(tmp_path / "b", slides=1, size=512, per_label=6, seed=1, margin=32)
    assert csv.read_bytes() == again.read_bytes()
    assert _digest(sorted((tmp_path / "a").glob("*.png"))) == _digest(sorted((tmp_path / "b").glob("*.png")))
    points, refused = pathology_slides.read_points(csv)
    assert refused.empty and set(points["label"]) == {"tumor", "normal"}
    slide_id = points["slide_id"][0]
    mask = np.asarray(Image.open(tmp_path / "a" / f"{slide_id}_mask.png")) > 0
    inside = [bool(mask[y, x]) for x, y in zip(points["x"], points["y"])]
    assert inside == [label == "tumor" for label in points["label"]]


def test_slide_tiff_reads_like_png(tmp_path):
    import numpy as np

    pathology_slides.generate(tmp_path / "png", slides=1, size=256, per_label=2, seed=2, margin=40)
    pathology_slides.generate(tmp_path / "tif", slides=1, size=256, per_label=2, seed=2, margin=40, fmt="TIFF")
    png = pathology_slides.read_slide(tmp_path / "png" / "slide_2_000.png")
    tif = pathology_slides.read_slide(tmp_path / "tif" / "slide_2_000.tif")
    assert png.shape == (256, 256, 3) and np.array_equal(png, tif)


def test_points_csv_quirks_are_read_and_bad_rows_refused(tmp_path):
    path = tmp_path / "points.csv"
    path.write_text("Slide_ID, X ,Y,Class\ns1, 10.4,20,Tumour\ns1,30,40,0\ns1,abc,5,normal\ns2,5,6,stroma\n")
    points, refused = pathology_slides.read_points(path)
    assert points.to_dict("records") == [{"slide_id": "s1", "x": 10, "y": 20, "label": "tumor"},
                                         {"slide_id": "s1", "x": 30, "y": 40, "label": "normal"}]
    assert list(refused["_reason"]) == ["x or y is not a number", "unknown label (tumor or normal)"]


@pytest.mark.parametrize("backend", ["embedded", "spark-delta"])
def test_image_ingest_stores_binary_with_metadata_and_quarantines_with_reasons(spark, tmp_path, backend):
    from lakeside.tables import Lake
    from lakeside.vision import store

    root = tmp_path / "landing"
    paths = car_images.generate(root, per_class=2, seed=0, size=48, body_types=("sedan", "van"))
    (root / "sedan" / "broken.png").write_bytes(b"not a picture at all")
    (root / "van" / "truncated.png").write_bytes(paths[0].read_bytes()[:200])
    (root / "van" / "same_as_a_sedan.png").write_bytes(paths[1].read_bytes())
    (root / "sedan" / "copy.png").write_bytes(paths[0].read_bytes())
    lake = Lake(tmp_path / "lake", backend=backend, spark=spark)

    report = store.ingest(spark, lake, "car_images", str(root), "2026-12-01", max_pixels=48 * 48)
    again = store.ingest(spark, lake, "car_images", str(root), "2026-12-01", max_pixels=48 * 48)

    assert report == again
    silver = lake.table("silver.car_images").to_pandas().sort_values("path")
    # sedan 0 (twice, kept once) and both vans; sedan 1 and its copy under van refused
    assert len(silver) == 3
    assert set(silver["label"]) == {"sedan", "van"}
    row = silver.iloc[0]
    assert row["image_id"] == hashlib.sha256(row["content"]).hexdigest()
    assert (row["format"], row["width"], row["height"]) == ("PNG", 48, 48)
    reasons = lake.table("quarantine.car_images").to_pandas().set_index("path")["_reason"]
    by_file = {p.rsplit("/", 1)[1]: r for p, r in reasons.items()}
    assert by_file["broken.png"].startswith("not an image")
    assert by_file["truncated.png"].startswith("corrupt or truncated image")
    assert by_file["same_as_a_sedan.png"] == "the same image (sha256) arrives with two labels: sedan, van"
    assert report.files == 8 and report.refused == 4


def test_oversized_images_are_quarantined(spark, tmp_path):
    from lakeside.tables import Lake
    from lakeside.vision import store

    car_images.generate(tmp_path / "landing", per_class=1, seed=0, size=64, body_types=("suv",))
    lake = Lake(tmp_path / "lake", backend="embedded", spark=spark)
    report = store.ingest(spark, lake, "cars", str(tmp_path / "landing"), "2026-12-01", max_pixels=1000)
    assert report.stored == 0
    assert list(report.reasons) == ["too many pixels: 64x64 = 4,096, at most 1,000"]
    report = store.ingest(spark, lake, "cars", str(tmp_path / "landing"), "2026-12-02", max_bytes=100)
    assert list(report.reasons)[0].endswith("bytes is over the limit of 100")
