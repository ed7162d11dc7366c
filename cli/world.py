"""`gaptools world`: generate the shapes world, train a toy CLIP on it, score captions against it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from gaptools.atomic import write_json
from gaptools.cli.app import console, overwrite_option
from gaptools.outputs import CLIP_RUN, check_output_file, check_output_folder, write_marker
from gaptools.validation import MAX_SEED
from gaptools.world.presets import DEFAULT_PRESET, PRESETS

world_app = typer.Typer(help="The shapes world: a synthetic image–caption world with known ground truth.",
                        no_args_is_help=True)


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f}"),
                    TimeElapsedColumn(), TimeRemainingColumn(), console=console, transient=False)


PRESET_HELP = (f"Named world (gaptools.world.presets): {', '.join(PRESETS)}; {DEFAULT_PRESET} is the default "
               "(the shipped demo's).")


def _pick(preset: dict, **given) -> dict:
    """The preset's settings with every option the user gave in their place."""
    return {**preset, **{k: v for k, v in given.items() if v is not None}}


@world_app.command("generate")
def generate_command(
    out: Path = typer.Option(..., "-o", "--out", help="Folder to create (absent or empty)."),
    preset: str = typer.Option(DEFAULT_PRESET, "--preset", help=PRESET_HELP),
    images: Optional[int] = typer.Option(None, "--images", help="Images in the world, all splits (default: the preset's)."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, max=MAX_SEED, help="Seed of every random choice."),
    min_objects: Optional[int] = typer.Option(None, "--min-objects", help="Fewest objects per image."),
    max_objects: Optional[int] = typer.Option(None, "--max-objects", help="Most objects per image (at most 5 fit)."),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Image side in pixels."),
    captions: Optional[int] = typer.Option(None, "--captions", help="Captions per image (1-7, each from a different template)."),
    mention: Optional[float] = typer.Option(None, "--mention", help="Chance a caption names each object (at least one)."),
    clutter: Optional[int] = typer.Option(None, "--clutter", help="Most unnamed marks per image."),
    palette: Optional[str] = typer.Option(None, "--palette", help="basic (7 shapes, 10 colours) or wide (12 shapes, 16 colours, 6 backgrounds)."),
    style: Optional[str] = typer.Option(None, "--style", help="basic, or rich: captions wrapped in words that carry no image content."),
    jitter: Optional[float] = typer.Option(None, "--jitter", help="Unnamed geometry: centre shift and radius scale up to this share (0-0.5)."),
    rotation: Optional[bool] = typer.Option(None, "--rotation/--no-rotation", help="Turn each shape by a random angle no caption names."),
    lighting: Optional[float] = typer.Option(None, "--lighting", help="Unnamed lighting: gain 1 ± this and a colour cast (0-0.5)."),
    looks: Optional[bool] = typer.Option(None, "--looks/--no-looks", help="Give each image a look: a tint, a light level and a frame."),
    name_looks: Optional[float] = typer.Option(None, "--name-looks", help="Chance a caption ends by naming its image's look (needs --looks)."),
    extra_looks: Optional[bool] = typer.Option(None, "--extra-looks/--no-extra-looks", help="Looks also blur, darken the corners and pixelate (needs --looks)."),
    fills: Optional[bool] = typer.Option(None, "--fills/--no-fills", help="Give each object a fill: solid, dotted, hatched or lined (a faint pattern)."),
    name_fills: Optional[float] = typer.Option(None, "--name-fills", help="Chance a caption names the fill of each object it names (needs --fills)."),
    val: Optional[int] = typer.Option(None, "--val", help="Val images (default images // 12)."),
    test: Optional[int] = typer.Option(None, "--test", help="Test images (default images // 12)."),
) -> None:
    """Write images/*.png, captions.json (Karpathy layout), scenes.json (true attributes) and world.json."""
    from gaptools.world import WorldParams, generate_world
    from gaptools.world.presets import get_preset

    params = WorldParams(**_pick(get_preset(preset).world, n_images=images, seed=seed, min_objects=min_objects,
                                 max_objects=max_objects, image_size=image_size, captions_per_image=captions,
                                 mention=mention, clutter=clutter, palette=palette, style=style, jitter=jitter,
                                 rotation=rotation, lighting=lighting, looks=looks, name_looks=name_looks,
                                 extra_looks=extra_looks, fills=fills, name_fills=name_fills, n_val=val, n_test=test))
    with _progress() as bar:
        task = bar.add_task("drawing", total=params.n_images)
        written = generate_world(out, params, progress=lambda k: bar.advance(task, k))
    n_val, n_test = params.split_sizes()
    if not written:
        console.print(f"{out} already holds this world (seed {params.seed}, {params.n_images} images): nothing rewritten.",
                      soft_wrap=True)
        return
    console.print(f"Wrote {out}: {params.n_images} images ({params.n_images - n_val - n_test} train, {n_val} val, "
                  f"{n_test} test), {params.n_images * params.captions_per_image} captions, seed {params.seed}.",
                  soft_wrap=True)


@world_app.command("train-clip")
def train_clip_command(
    world: Path = typer.Argument(..., help="A world folder (from `gaptools world generate`)."),
    out: Path = typer.Option(..., "-o", "--out", help="Folder for model.json, checkpoint.pt, metrics.json."),
    preset: str = typer.Option(DEFAULT_PRESET, "--preset", help=PRESET_HELP + " Gives the model and the settings below."),
    minutes: Optional[float] = typer.Option(None, "--minutes", help="Budget of training-step time in minutes, resumed runs included; 0: none."),
    steps: Optional[int] = typer.Option(None, "--steps", help="Budget of steps (resumed runs included)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", help="Images per step."),
    lr: Optional[float] = typer.Option(None, "--lr", help="AdamW learning rate."),
    logit_scale_lr: Optional[float] = typer.Option(None, "--logit-scale-lr",
                                                   help="Learning rate of the logit scale (0: fixed at its start)."),
    init_logit_scale: Optional[float] = typer.Option(None, "--init-logit-scale",
                                                     help="Logit scale at the start (1/temperature; CLIP: 1/0.07, clamp 100)."),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="AdamW weight decay of weight matrices."),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", min=0, help="Linear learning-rate warm-up."),
    schedule: Optional[str] = typer.Option(None, "--schedule",
                                           help="After the warm-up: constant, or cosine (decays to zero at --steps)."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, max=MAX_SEED, help="Seed of the initial weights and batches."),
    fixed_projection: Optional[bool] = typer.Option(
        None, "--fixed-projection/--trained-projection",
        help="Hold both output projections at the identity (the towers' LayerNorm coordinates are the embedding's; "
             "needs embed_dim equal to both tower widths)."),
    name_looks: Optional[float] = typer.Option(
        None, "--name-looks",
        help="Train on the world's captions written again to name each image's look with this chance "
             "(a world with --looks); its own captions stay as they are."),
    model_config: Optional[Path] = typer.Option(None, "--model-config", help="open_clip model-config JSON (default: the preset's)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the checkpoint in --out."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1,
                                          help="CPU threads for torch (1 is fastest on a CPU shared with other jobs)."),
) -> None:
    """Train a tiny open_clip CLIP with open_clip's ClipLoss; report test retrieval recall@1."""
    from gaptools.world.clip import TrainSettings, load_model_config, train_clip
    from gaptools.world.presets import get_preset

    if threads is not None:
        import torch

        torch.set_num_threads(threads)
    check_output_folder(out, kind=CLIP_RUN, option="-o", inputs=[world, model_config], reuse=True)
    chosen = get_preset(preset)
    given = _pick(chosen.training, batch_size=batch_size, lr=lr, logit_scale_lr=logit_scale_lr,
                  init_logit_scale=init_logit_scale, weight_decay=weight_decay, warmup_steps=warmup_steps,
                  max_steps=steps, seed=seed, fixed_projection=fixed_projection, schedule=schedule,
                  name_looks=name_looks)
    if minutes is not None:
        given["minutes"] = minutes if minutes > 0 else None
    settings = TrainSettings(**given)
    config = load_model_config(model_config) if model_config else chosen.model_config
    by_steps = settings.minutes is None
    with _progress() as bar:
        task = bar.add_task("training", total=settings.max_steps if by_steps else settings.minutes * 60)

        def on_step(info: dict) -> None:
            bar.update(task, completed=info["step"] if by_steps else info["elapsed_s"],
                       description=f"step {info['step']} loss {info['loss']:.3f} scale {info['logit_scale']:.1f}")

        metrics = train_clip(world, out, settings, model_config=config, resume=resume, on_step=on_step)
    write_marker(out, CLIP_RUN)
    r = metrics["test_retrieval"]
    console.print(f"{metrics['steps']} steps in {metrics['train_seconds']:.0f} s; logit scale {metrics['logit_scale']:.1f}; "
                  f"test recall@1 image→text {r['r1_image_to_text']:.3f}, text→image {r['r1_text_to_image']:.3f} "
                  f"(chance {r['chance_image_to_text']:.4f}, {r['chance_text_to_image']:.4f}); "
                  f"centroid gap {metrics['test_centroid_gap']:.3f}.", soft_wrap=True)
    console.print(f"Wrote {out}/model.json, checkpoint.pt, metrics.json")


@world_app.command("score")
def score_command(
    world: Path = typer.Argument(..., help="The world folder the captions are about."),
    predictions: Path = typer.Argument(..., help='COCO results JSON: [{"image_id": imgid or file name, "caption": ...}].'),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the scores as JSON here."),
    overwrite: bool = overwrite_option(),
) -> None:
    """Precision/recall of the colours, shapes, sizes, positions and objects captions mention; exact-scene accuracy."""
    from gaptools.world import load_predictions, load_scenes, score_captions
    from gaptools.world.score import SCORE_KIND

    if json_out is not None:
        check_output_file(json_out, option="--json", inputs=[world, predictions], kind=SCORE_KIND, overwrite=overwrite)
    scores = score_captions(load_scenes(world), load_predictions(predictions), source=str(predictions))
    console.print(render_scores(scores))
    if json_out is not None:
        write_json(json_out, scores)
        console.print(f"Wrote {json_out}")


def _cell(value: float | None) -> str:
    return "[dim]—[/dim]" if value is None else f"{value:.3f}"


def render_scores(scores: dict) -> Table:
    """The attribute-by-measure table of a score result."""
    table = Table(title=f"Captions vs true scenes ({scores['n_captions']} captions, {scores['n_images']} images)")
    for column in ("attribute", "precision", "recall", "F1", "said", "true"):
        table.add_column(column, justify="left" if column == "attribute" else "right")
    for name, a in scores["attributes"].items():
        table.add_row(name, _cell(a["precision"]), _cell(a["recall"]), _cell(a["f1"]), str(a["n_said"]), str(a["n_true"]))
    table.caption = f"exact scene (named objects = true objects): {scores['exact_scene']:.3f}"
    return table
