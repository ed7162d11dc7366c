"""The `caption` command: ClipCap / Unsupervised-ClipCap training, evaluation and scoring."""

from __future__ import annotations

from gaptools.cli.app import make_root_app
from gaptools.cli.caption_eval import eval_command, score_command
from gaptools.cli.caption_train import train_command

app = make_root_app("Train and evaluate CLIP-prefix captioners (ClipCap, Unsupervised-ClipCap).")
app.command("eval")(eval_command)
app.command("score")(score_command)
app.command("train")(train_command)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
