"""Batch manifests and job folders: parsing, the same checks as ``remove``, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from moebius_video.batch import ManifestError, read_jobs
from moebius_video.cli import main


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str) -> str:
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("moebius-video: error: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.fixture
def clips(tmp_path: Path, clip_factory) -> Path:  # type: ignore[no-untyped-def]
    clip_factory(tmp_path, "a", seed=1)
    clip_factory(tmp_path, "b", seed=2)
    return tmp_path


def test_csv_rows_keep_quoted_commas_and_skip_blank_lines(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.csv"
    manifest.write_text('\ufeffInput, Mask-Video ,box\n\nx.mp4,,"1,2,3,4"\ny.mp4,m.mp4,\n')
    rows = read_jobs(manifest)
    assert [r.where for r in rows] == ["jobs.csv line 3", "jobs.csv line 4"]
    assert rows[0].fields == {"input": "x.mp4", "box": "1,2,3,4"}
    assert rows[1].fields == {"input": "y.mp4", "mask_video": "m.mp4"}
    assert rows[0].base == tmp_path.resolve()


def test_jsonl_rows_drop_nulls_and_keep_types(tmp_path: Path) -> None:
    manifest = tmp_path / "jobs.jsonl"
    manifest.write_text('{"input": "x.mp4", "box": [1, 2, 3, 4], "mask": null, "no-audio": true}\n\n'
                        '{"input": "y.mp4", "mask": "m.png", "end": 40}\n')
    rows = read_jobs(manifest)
    assert rows[0].fields == {"input": "x.mp4", "box": [1, 2, 3, 4], "no_audio": True}
    assert rows[1].fields == {"input": "y.mp4", "mask": "m.png", "end": 40}
    assert rows[1].where == "jobs.jsonl line 3"


@pytest.mark.parametrize(
    ("name", "text", "needle"),
    [
        ("jobs.csv", "input,mask\na.mp4,m.png,extra\n", "jobs.csv line 2: 3 cells for 2 columns"),
        ("jobs.csv", "input,Input\na.mp4,b.mp4\n", "column 'input' appears twice"),
        ("jobs.csv", "", "empty file"),
        ("jobs.csv", "input,mask\n", "no job in it"),
        ("jobs.jsonl", '{"input": "a.mp4"}\n{"input": \n', "jobs.jsonl line 2: not valid JSON"),
        ("jobs.jsonl", '["a.mp4"]\n', "jobs.jsonl line 1: expected a JSON object, got list"),
        ("jobs.txt", "a.mp4\n", "expected a .csv or .jsonl manifest or a folder"),
    ],
)
def test_malformed_manifests_are_refused(tmp_path: Path, name: str, text: str, needle: str) -> None:
    manifest = tmp_path / name
    manifest.write_text(text)
    with pytest.raises(ManifestError, match=needle.replace("(", r"\(").replace(")", r"\)")):
        read_jobs(manifest)


@pytest.mark.parametrize(
    ("rows", "needles"),
    [
        # no input
        (",a.mask.png,\n", ["jobs.csv line 3", "no input"]),
        # an input that does not exist
        ("nope.mp4,a.mask.png,\n", ["jobs.csv line 3", "input", "nope.mp4", "does not exist"]),
        # two kinds of mask in one row
        ('a.mp4,a.mask.png,"1,2,3,4"\n', ["jobs.csv line 3", "exactly one of", "mask and box"]),
        # neither
        ("a.mp4,,\n", ["jobs.csv line 3", "exactly one of", "got none"]),
        # a malformed box: remove's own message
        ("a.mp4,,1;2\n", ["jobs.csv line 3", "--box", "must be x,y,w,h"]),
        # a mask file that does not exist
        ("a.mp4,gone.png,\n", ["jobs.csv line 3", "mask", "gone.png", "does not exist"]),
        ("a.mp4,,-5\n", ["jobs.csv line 3", "--box", "must be x,y,w,h"]),
    ],
)
def test_bad_rows_name_the_row(clips: Path, tmp_path: Path, rows: str, needles: list[str],
                               capsys: pytest.CaptureFixture[str]) -> None:
    manifest = clips / "jobs.csv"
    manifest.write_text("input,mask,box\nb.mp4,b.mask.png,\n" + rows)
    code, out, err = _run(["batch", str(manifest), "-o", str(tmp_path / "out"), "--no-ray"], capsys)
    assert code == 1
    line = _one_line_error(err)
    for needle in needles:
        assert needle in line, (needle, line)
    assert "line 2" not in line  # the good row is not blamed
    assert not (tmp_path / "out").exists()  # nothing ran, nothing written


@pytest.mark.parametrize(
    ("header", "row", "needles"),
    [
        ("input,mask,colour", "a.mp4,a.mask.png,red", ["jobs.csv line 2", "unknown column 'colour'", "fill"]),
        ("input,mask,save_masks", "a.mp4,a.mask.png,m/", ["save_masks", "track"]),
        ("input,mask,review", "a.mp4,a.mask.png,r.mp4", ["review", "track --review"]),
        ("input,mask,dilate", "a.mp4,a.mask.png,-3", ["jobs.csv line 2", "--dilate", "must be between 0"]),
        ("input,mask,crf", "a.mp4,a.mask.png,60", ["jobs.csv line 2", "--crf for libx264 must be between 0 and 51"]),
        ("input,mask,fill", "a.mp4,a.mask.png,magic", ["jobs.csv line 2", "unknown filler 'magic'"]),
        ("input,mask,fill,batch", "a.mp4,a.mask.png,telea,4", ["--batch applies to --fill moebius"]),
        ("input,mask,start,end", "a.mp4,a.mask.png,8,4", ["jobs.csv line 2", "--end (4) must be greater"]),
        ("input,mask,no_audio", "a.mp4,a.mask.png,maybe", ["no_audio must be true or false"]),
        ("input,mask,output", "a.mp4,a.mask.png,../escape.mp4", ["output '../escape.mp4' must be a name inside"]),
        ("input,mask,output", "a.mp4,a.mask.png,run.v2/", ["output 'run.v2/'", "without an extension"]),
    ],
)
def test_row_options_go_through_removes_checks(clips: Path, tmp_path: Path, header: str, row: str,
                                               needles: list[str],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    manifest = clips / "jobs.csv"
    manifest.write_text(f"{header}\n{row}\n")
    code, _, err = _run(["batch", str(manifest), "-o", str(tmp_path / "out"), "--dry-run"], capsys)
    assert code == 1
    line = _one_line_error(err)
    for needle in needles:
        assert needle in line, (needle, line)


def test_every_bad_row_is_listed(clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = clips / "jobs.csv"
    manifest.write_text("input,mask,crf\nzz.mp4,a.mask.png,\na.mp4,a.mask.png,x\nb.mp4,b.mask.png,\n")
    code, _, err = _run(["batch", str(manifest), "-o", str(tmp_path / "out"), "--dry-run"], capsys)
    line = _one_line_error(err)
    assert code == 1
    assert "2 of 3 jobs are invalid" in line
    assert "jobs.csv line 2" in line and "jobs.csv line 3" in line and "line 4" not in line


def test_outputs_may_not_collide_or_overwrite_inputs(clips: Path, capsys: pytest.CaptureFixture[str]) -> None:
    manifest = clips / "jobs.csv"
    manifest.write_text("input,mask,output\na.mp4,a.mask.png,same.mp4\nb.mp4,b.mask.png,same.mp4\n")
    code, _, err = _run(["batch", str(manifest), "-o", str(clips / "out"), "--dry-run"], capsys)
    assert code == 1
    assert "jobs.csv line 3: output" in _one_line_error(err)
    assert "also the output of jobs.csv line 2" in err
    # Writing into the folder the inputs are in, under their own names: refused.
    manifest.write_text("input,mask\na.mp4,a.mask.png\nb.mp4,b.mask.png\n")
    code, _, err = _run(["batch", str(manifest), "-o", str(clips), "--no-ray", "-y"], capsys)
    assert code == 1
    assert "refusing to write over an input" in _one_line_error(err)
    assert (clips / "a.mp4").stat().st_size > 1000  # untouched


def test_command_line_options_are_every_rows_defaults(clips: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from moebius_video.cli import build_parser
    from moebius_video.cli.batch import build_jobs

    manifest = clips / "jobs.jsonl"
    manifest.write_text(json.dumps({"input": "a.mp4", "mask": "a.mask.png"}) + "\n"
                        + json.dumps({"input": "b.mp4", "box": [4, 4, 20, 20], "fill": "ns",
                                      "crf": 30, "no_audio": False, "output": "frames/"}) + "\n")
    out = tmp_path / "out"
    args = build_parser().parse_args(["batch", str(manifest), "-o", str(out), "--fill", "telea",
                                      "--dilate", "2", "--crf", "20", "--no-audio"])
    a, b = build_jobs(manifest, out, args)
    assert (a.config.fill, a.config.dilate, a.encode.crf, a.encode.audio) == ("telea", 2, 20, False)
    assert (b.config.fill, b.config.dilate, b.encode.crf, b.encode.audio) == ("ns", 2, 30, True)
    assert a.input == clips.resolve() / "a.mp4" and a.masks.mask == clips.resolve() / "a.mask.png"
    assert a.output == out / "a.mp4"
    assert b.masks.box == (4, 4, 20, 20)
    assert b.output == out / "frames"  # no extension: a folder of PNG frames, as with remove


def test_folder_mode_finds_each_videos_mask(tmp_path: Path, clip_factory) -> None:  # type: ignore[no-untyped-def]
    clip_factory(tmp_path, "one")
    clip_factory(tmp_path, "two")
    (tmp_path / "two.mask.png").unlink()
    (tmp_path / "two.box.txt").write_text("10,10,30,20\n")
    clip_factory(tmp_path, "three")
    (tmp_path / "three.mask.png").rename(tmp_path / "three.mask.mp4.png")  # not a mask name
    (tmp_path / "notes.txt").write_text("not a video")
    with pytest.raises(ManifestError, match=r"three\.mp4: no mask beside it"):
        read_jobs(tmp_path)
    (tmp_path / "three.mp4").unlink()
    rows = read_jobs(tmp_path)
    assert [r.fields for r in rows] == [{"input": "one.mp4", "mask": "one.mask.png"},
                                        {"input": "two.mp4", "box": "10,10,30,20"}]
    (tmp_path / "one.box.txt").write_text("1,1,5,5")
    with pytest.raises(ManifestError, match=r"one\.mp4: more than one mask beside it \(box, mask\)"):
        read_jobs(tmp_path)


def test_dry_run_lists_without_writing(clips: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.mp4").write_bytes(b"done before")
    code, stdout, err = _run(["batch", str(clips), "-o", str(out), "--dry-run"], capsys)
    assert code == 0, err
    lines = stdout.splitlines()
    assert any("a.mp4" in line and "skipped" in line for line in lines), stdout
    assert any("b.mp4" in line and "pending" in line for line in lines), stdout
    assert sorted(p.name for p in out.iterdir()) == ["a.mp4"]
