"""``get`` and ``describe`` take their arguments as oc does: ``TYPE NAME...``,
``TYPE/NAME...`` (several types at once for get), the long and fully qualified type
names; and refuse the mixtures oc refuses. ``get images`` is cluster-scoped."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from reconciler.cli import main as cli
from reconciler.core.lockfile import HistoryItem, Lock, TagLock, TagSource
from reconciler.core.streams import TagRef
from reconciler.core.views import image_views

GOLDEN = Path(__file__).parent / "golden"
NOW = "2026-01-01T12:00:00Z"
D83 = "sha256:83fbb416389b1555a7978ce1577e9934782b485a2e04f122c204629a00d3bf2d"


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    conf = tmp_path / "registries.conf"
    conf.write_text("")
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    repo = tmp_path / "repo"
    shutil.copytree(GOLDEN / "get" / "images-cluster" / "before", repo)
    return repo


def run(repo: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return cli.main([*argv, "--repo", str(repo), "--now", NOW], out), out.getvalue()


@pytest.mark.parametrize(
    "argv",
    [
        ["is/approved-apache"],
        ["imagestream/approved-apache"],
        ["imagestream.image.openshift.io/approved-apache"],
        ["is", "approved-apache"],
        ["imagestreams", "approved-apache"],
    ],
)
def test_get_is_forms(checkout: Path, argv: list[str]) -> None:
    code, out = run(checkout, "get", *argv, "-o", "name")
    assert (code, out) == (0, "imagestream.image.openshift.io/approved-apache\n")


def test_get_several_types_by_name(checkout: Path) -> None:
    code, out = run(
        checkout, "get", "is/approved-apache", f"images/{D83[:14]}", "istag/approved-apache:old",
        "-o", "name",
    )  # fmt: skip
    assert code == 0
    assert out.splitlines() == [
        "imagestream.image.openshift.io/approved-apache",
        f"image.image.openshift.io/{D83}",
        "imagestreamtag.image.openshift.io/approved-apache:old",
    ]


def test_get_type_and_type_name_mixed_is_refused(
    checkout: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(checkout, "get", "is", "is/approved-apache")
    assert code == 1
    assert "no need to specify a resource type as a separate argument" in capsys.readouterr().err


def test_get_images_ignores_the_namespace(checkout: Path) -> None:
    _, every = run(checkout, "get", "images", "-o", "name")
    _, shop = run(checkout, "get", "images", "-n", "shop", "-o", "name")
    assert every == shop and len(every.splitlines()) == 5


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["isimage", "approved-apache"], "an image stream image is NAME@sha256"),
        (["istag/approved-apache@" + D83], "is an image stream image, not an image stream tag"),
        (["istag"], "describe istag needs NAME:TAG"),
        (["is/approved-apache", "approved-apache"], "not both"),
        (["bc/web"], "describe knows image streams"),
        (["isimage", "approved-apache@sha256:" + "0" * 64], "not found"),
    ],
)
def test_describe_refusals(
    checkout: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = run(checkout, "describe", *argv)
    assert code == 1
    assert message in capsys.readouterr().err


def test_image_views_older_local_image_keeps_its_local_name() -> None:
    """A Local tag's current image is named by its source; an image only its history
    still holds (the source then is unknown) by the local registry path."""
    old, new = "sha256:" + "1" * 64, "sha256:" + "2" * 64
    local = "image-registry.openshift-image-registry.svc:5000/ns/web"
    entry = TagLock(
        source=TagSource("DockerImage", "quay.io/shop/web:prod", reference_policy="Local"),
        resolved_from="quay.io/shop/web:prod",
        digest=new,
        image=f"{local}@{new}",
        history=(
            HistoryItem(new, f"{local}@{new}", "2026-01-01T00:00:00Z", 2),
            HistoryItem(old, f"{local}@{old}", "2025-01-01T00:00:00Z", 1),
        ),
    )
    views = image_views(Lock(tags={TagRef("ns", "web", "prod"): entry}), None)
    assert [(v.digest, v.image) for v in views] == [
        (old, f"{local}@{old}"),
        (new, f"quay.io/shop/web@{new}"),
    ]
