import pytest

from lakeside import landing


def test_demo_files_are_generated_only_when_asked(lakeside_home, monkeypatch):
    with pytest.raises(FileNotFoundError, match="LAKESIDE_GENERATE_MISSING_LANDING"):
        landing.ensure_landing("loans", "2024-05-01")
    monkeypatch.setenv("LAKESIDE_GENERATE_MISSING_LANDING", "true")
    files = landing.ensure_landing("loans", "2024-05-01")
    assert files == [str(lakeside_home / "landing" / "loans" / "2024-05-01" / "loans-2024-05-01.csv")]


def test_a_day_s_demo_file_is_the_same_every_time(lakeside_home):
    first = landing.land_demo_file("loans", "2024-05-02", rows=300).read_bytes()
    again = landing.land_demo_file("loans", "2024-05-02", rows=300).read_bytes()
    other_day = landing.land_demo_file("loans", "2024-05-03", rows=300).read_bytes()
    assert first == again != other_day
    assert first.decode().splitlines()[0].startswith("id,loan_amnt,term,int_rate,grade")


def test_a_weekly_export_lands_on_its_weekday_only():
    assert landing.lands_on("loans", "2024-01-02")
    assert landing.lands_on("weekly_sales", "2024-01-01")  # a Monday
    assert not any(landing.lands_on("weekly_sales", f"2024-01-{day:02d}") for day in range(2, 8))


def test_a_weekly_demo_file_is_the_whole_catalogue(lakeside_home):
    lines = landing.land_demo_file("weekly_sales", "2024-01-01").read_text().splitlines()
    products = {line.split(",")[0] for line in lines[1:]}
    assert lines[0].startswith("Product_Code,W0,W1,") and len(products & {f"P{n}" for n in range(1, 812)}) >= 800
