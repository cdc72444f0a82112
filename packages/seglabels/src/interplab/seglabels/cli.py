"""``interplab seglabels score``: rank a dataset's images by label quality from the shell.

Only typer is imported here; numpy and the scoring code load inside the command.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

__all__ = ["app"]

app = typer.Typer(
    help="Label quality of segmentation masks (Lad & Mueller 2023).",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
)


@app.command()
def score(
    labels: Annotated[
        Path,
        typer.Option(
            help="Masks: a folder of PNGs, taken in file-name order (street_1.png, "
            "street_10.png, street_2.png, …), or a .npy/.npz (N, H, W)."
        ),
    ],
    pred_probs: Annotated[
        Path,
        typer.Option(
            help="Probabilities (N, K, H, W), .npy or .npz; row i belongs to the i-th mask of "
            "--labels (for a folder: in file-name order, not natural order)."
        ),
    ],
    images: Annotated[
        Path | None, typer.Option(help="Folder of the images (for the gallery).")
    ] = None,
    method: Annotated[str, typer.Option(help="Image-score method.")] = "softmin",
    param: Annotated[
        list[str] | None,
        typer.Option(
            metavar="KEY=VALUE",
            help="A parameter of the method, a number; repeatable: q=5 (percentile), "
            "temperature=0.05 (softmin), threshold=0.3 (below_threshold).",
        ),
    ] = None,
    ignore_index: Annotated[int | None, typer.Option(help="Label value of void pixels.")] = None,
    out: Annotated[Path, typer.Option(help="Output folder.")] = Path("seglabels-scores"),
    top: Annotated[int, typer.Option(help="Images in the gallery.")] = 24,
    class_names: Annotated[
        str | None,
        typer.Option(help="Comma-separated names of classes 0..K-1, for the gallery's legend."),
    ] = None,
) -> None:
    """Write OUT/ranking.csv (images by ascending score) and OUT/gallery.html (the worst ones).

    Row i of --pred-probs is scored with mask i: for a folder, the i-th mask in file-name order
    (as sorted(folder.glob('*.png')) gives: street_1.png, street_10.png, street_2.png, …).
    """
    from interplab.seglabels.review import parse_params, score_dataset

    names = None if class_names is None else [n.strip() for n in class_names.split(",")]
    review = score_dataset(
        labels, pred_probs, images=images, method=method, params=parse_params(param or []),
        ignore_index=ignore_index, out=out, top=top, class_names=names,
    )  # fmt: skip
    from rich.markup import escape
    from rich.table import Table

    from interplab.core.cli import console
    from interplab.core.cli._common import err_console

    console.print(escape(review.pairing), soft_wrap=True)
    if review.warning:
        err_console.print(f"[yellow]warning:[/] {escape(review.warning)}", soft_wrap=True)
    table = Table(title=f"lowest {method} scores", title_justify="left")
    for column in ("rank", "pred_probs row", "image", "score", "flagged pixels"):
        table.add_column(column)
    for rank, row, name, _, value, flagged in review.rows[:10]:
        table.add_row(str(rank), str(row), escape(name), value, str(flagged))
    console.print(table)
    console.print(f"ranking: {review.ranking}\ngallery: {review.gallery}")
