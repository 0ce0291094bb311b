"""The generated VQA suite (spec `experiments/vqa/embedded.yaml`): small, deterministic stand-ins for the paper's
seven benchmarks, written by the project.

Each set is a TSV in VLMEvalKit's own format (base64 PNG `image`, `question`, `answer`, options `A`..`D`,
`category`, ...) and is scored by the real VLMEvalKit class its name selects, so the same code path as the paper
suite runs offline. Names follow VLMEvalKit's rules: a set's name contains the benchmark whose scoring it needs
("TextVQA" -> VQA score, "DocVQA" -> ANLS, "MME" -> MME rating, "MMBench" -> circular evaluation), and the MME and
OCRBench stand-ins use exactly those benchmarks' category names.

Images are drawn with Pillow's bundled font (no system fonts), from a seeded RNG: staging twice writes identical
bytes. A staged directory carries a manifest (generator version + md5 of each TSV) so a stale or edited copy is
rebuilt, never scored.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import random
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw, ImageFont

from harness.records.atomic import atomic_path, atomic_write_text

# Bump when any generated content changes: staged copies with another version are rebuilt.
GENERATOR_VERSION = 2
SEED = 20260101
MANIFEST = "manifest.json"

COLOURS = {"red": (220, 40, 40), "green": (40, 160, 60), "blue": (40, 80, 220), "yellow": (235, 200, 30),
           "purple": (140, 60, 170), "orange": (245, 140, 30)}
SHAPES = ("circle", "square", "triangle")
NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}
W, H = 320, 240

# --------------------------------------------------------------------------------------------------- drawing


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _canvas(bg=(255, 255, 255), size=(W, H)) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    img = Image.new("RGB", size, bg)
    return img, ImageDraw.Draw(img)


def _shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float, colour: str) -> None:
    fill = COLOURS[colour]
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "square":
        draw.rectangle([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx - r, cy + r), (cx + r, cy + r)], fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def _scatter(rng: random.Random, items: list[tuple[str, str]], r: int = 18) -> Image.Image:
    """Non-overlapping (shape, colour) items on a white canvas."""
    img, draw = _canvas()
    placed: list[tuple[float, float]] = []
    for shape, colour in items:
        for _ in range(500):
            cx, cy = rng.uniform(r + 4, W - r - 4), rng.uniform(r + 4, H - r - 4)
            if all(math.hypot(cx - x, cy - y) > 2.4 * r for x, y in placed):
                break
        placed.append((cx, cy))
        _shape(draw, shape, cx, cy, r, colour)
    return img


def _text_image(lines: list[str], size: int = 28, bg=(255, 255, 255), fg=(0, 0, 0), dims=(W, H)) -> Image.Image:
    img, draw = _canvas(bg, dims)
    font = _font(size)
    y = 16
    for line in lines:
        draw.text((16, y), line, fill=fg, font=font)
        y += int(size * 1.4)
    return img


def _centred_text(text: str, size: int = 40, bg=(255, 255, 255), fg=(0, 0, 0)) -> Image.Image:
    img, draw = _canvas(bg)
    font = _font(size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    draw.text(((W - (right - left)) / 2 - left, (H - (bottom - top)) / 2 - top), text, fill=fg, font=font)
    return img


def _png_b64(img: Image.Image) -> str:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _options(rng: random.Random, correct: str, distractors: list[str]) -> tuple[dict[str, str], str]:
    """Four options A-D with the correct one at a seeded position; returns (options, answer letter)."""
    choices = [correct] + rng.sample([d for d in distractors if d != correct], 3)
    rng.shuffle(choices)
    return dict(zip("ABCD", choices, strict=True)), "ABCD"[choices.index(correct)]


# --------------------------------------------------------------------------------------------------- MCQ items


def _shape_mcq(rng: random.Random, kind: str) -> tuple[Image.Image, str, str, list[str], str, str]:
    """(image, question, correct, distractors, category, l2-category) for one shapes/colours/counting item."""
    colours, shapes = list(COLOURS), list(SHAPES)
    if kind == "colour":
        colour, shape = rng.choice(colours), rng.choice(shapes)
        img, draw = _canvas()
        _shape(draw, shape, W / 2, H / 2, 60, colour)
        return img, f"What colour is the {shape} in the image?", colour, colours, "coarse perception", "color"
    if kind == "shape":
        colour, shape = rng.choice(colours), rng.choice(shapes)
        img, draw = _canvas()
        _shape(draw, shape, W / 2, H / 2, 60, colour)
        return (img, "Which shape is shown in the image?", shape, shapes + ["star", "hexagon"],
                "fine-grained perception", "shape recognition")
    if kind == "count":
        n, colour, shape = rng.randint(2, 6), rng.choice(colours), rng.choice(shapes)
        img = _scatter(rng, [(shape, colour)] * n)
        return (img, f"How many {colour} {shape}s are there in the image?", str(n),
                [str(k) for k in range(1, 8)], "instance reasoning", "counting")
    if kind == "position":
        (ca, cb), (sa, sb) = rng.sample(colours, 2), rng.sample(shapes, 2)
        img, draw = _canvas()
        left_first = rng.random() < 0.5
        _shape(draw, sa, 80 if left_first else 240, H / 2, 40, ca)
        _shape(draw, sb, 240 if left_first else 80, H / 2, 40, cb)
        left = f"the {ca} {sa}" if left_first else f"the {cb} {sb}"
        right = f"the {cb} {sb}" if left_first else f"the {ca} {sa}"
        return (img, "Which object is on the left side of the image?", left,
                [right, "neither of them", "both of them"], "instance reasoning", "spatial relation")
    if kind == "sum":
        a, b = rng.randint(1, 3), rng.randint(1, 3)
        sa, sb = rng.sample(shapes, 2)
        img = _scatter(rng, [(sa, "blue")] * a + [(sb, "red")] * b)
        return (img, f"How many blue {sa}s and red {sb}s are there in total?", str(a + b),
                [str(k) for k in range(1, 9)], "math", "numeric commonsense")
    if kind == "missing":
        present = rng.sample(colours, 3)
        absent = rng.choice([c for c in colours if c not in present])
        img = _scatter(rng, [(rng.choice(shapes), c) for c in present], r=26)
        return (img, "Which colour does NOT appear in the image?", absent, present, "coarse perception",
                "color")
    raise ValueError(kind)


MCQ_KINDS = ("colour", "shape", "count", "position", "sum", "missing")


def _mmstar(rng: random.Random) -> pd.DataFrame:
    rows = []
    for i in range(8):
        img, question, correct, distractors, cat, l2 = _shape_mcq(rng, MCQ_KINDS[i % len(MCQ_KINDS)])
        options, answer = _options(rng, correct, distractors)
        rows.append(dict(index=i, question=question, answer=answer, **options, category=cat,
                         **{"l2-category": l2}, image=_png_b64(img)))
    return pd.DataFrame(rows)


def _mmbench(rng: random.Random) -> pd.DataFrame:
    """MMBench layout: each question followed by its circular shifts (index + k * 1e6, image = original index)."""
    base_rows, copies = [], []
    for i in range(4):
        img, question, correct, distractors, cat, l2 = _shape_mcq(rng, MCQ_KINDS[(i + 2) % len(MCQ_KINDS)])
        options, answer = _options(rng, correct, distractors)
        hint = "Count each object exactly once." if cat in ("instance reasoning", "math") else None
        row = dict(index=i, question=question, hint=hint, **options, answer=answer, category=l2,
                   **{"l2-category": cat}, split="dev", image=_png_b64(img))
        base_rows.append(row)
        values = [options[k] for k in "ABCD"]
        for k in range(1, 4):
            shifted = values[k:] + values[:k]
            copies.append({**row, "index": i + k * 1_000_000, **dict(zip("ABCD", shifted, strict=True)),
                           "answer": "ABCD"[shifted.index(correct)], "image": str(i)})
    return pd.DataFrame(base_rows + copies)


def _mmmu(rng: random.Random) -> pd.DataFrame:
    """MMMU layout: the question names its image as `<image 1>`; `split` dev/validation (headline: validation)."""
    rows = []
    for i in range(6):
        if i % 2 == 0:
            labels = rng.sample(["Alpha", "Beta", "Gamma", "Delta", "Omega"], 4)
            values = rng.sample(range(2, 10), 4)
            img, draw = _canvas()
            font = _font(14)
            for j, (label, v) in enumerate(zip(labels, values, strict=True)):
                x = 30 + j * 72
                draw.rectangle([x, H - 40 - v * 18, x + 44, H - 40], fill=COLOURS["blue"])
                draw.text((x, H - 32), label, fill=(0, 0, 0), font=font)
            correct = labels[values.index(max(values))]
            question = "<image 1> The bar chart shows four groups. Which group has the largest value?"
            options, answer = _options(rng, correct, labels + ["Omega", "Sigma"])
            subject = "Math"
        else:
            x, a = rng.randint(2, 9), rng.randint(2, 5)
            b = rng.randint(1, 9)
            img = _centred_text(f"{a}x + {b} = {a * x + b}", size=36)
            question = "Solve the equation shown in <image 1>. What is x?"
            options, answer = _options(rng, str(x), [str(k) for k in range(1, 12)])
            subject = "Math"
        rows.append(dict(index=f"{'dev' if i < 2 else 'validation'}_{subject}_{i + 1}", question=question,
                         **options, answer=answer, category=subject, split="dev" if i < 2 else "validation",
                         image=_png_b64(img)))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------- MME (yes/no)


def _mme_items(rng: random.Random) -> list[tuple[str, Image.Image, str, str]]:
    """(category, image, question whose answer is Yes, question whose answer is No) for MME's 14 categories."""
    items = []
    shape, other = rng.sample(SHAPES, 2)
    img, draw = _canvas()
    _shape(draw, shape, W / 2, H / 2, 50, "red")
    items.append(("existence", img, f"Is there a {shape} in this image?", f"Is there a {other} in this image?"))

    n, shape = rng.randint(2, 4), rng.choice(SHAPES)
    img = _scatter(rng, [(shape, "green")] * n)
    items.append(("count", img, f"Are there {NUMBER_WORDS[n]} {shape}s in this image?",
                  f"Are there {NUMBER_WORDS[n + 2]} {shape}s in this image?"))

    img, draw = _canvas()
    _shape(draw, "square", 80, H / 2, 40, "red")
    _shape(draw, "circle", 240, H / 2, 40, "blue")
    items.append(("position", img, "Is the red square on the left of the blue circle?",
                  "Is the red square on the right of the blue circle?"))

    colour, wrong = rng.sample(list(COLOURS), 2)
    img, draw = _canvas()
    _shape(draw, "triangle", W / 2, H / 2, 60, colour)
    items.append(("color", img, f"Is the triangle in this image {colour}?", f"Is the triangle in this image {wrong}?"))

    word, wrong = rng.choice([("GARDEN", "GOLDEN"), ("MARKET", "MAGNET"), ("WINTER", "WINNER")])
    items.append(("OCR", _centred_text(word, 44), f'Is the word in the image "{word}"?',
                  f'Is the word in the image "{wrong}"?'))

    title, wrong = rng.choice([("NIGHT TRAIN", "Day Boat"), ("BLUE MOON", "Red Sun")])
    img, draw = _canvas((30, 30, 60))
    draw.rectangle([10, 10, W - 10, H - 10], outline=(240, 200, 60), width=6)
    draw.text((40, 90), title, fill=(240, 200, 60), font=_font(36))
    draw.text((40, 150), "IN CINEMAS NOW", fill=(255, 255, 255), font=_font(18))
    items.append(("posters", img, f'Is this a poster for the film "{title.title()}"?',
                  f'Is this a poster for the film "{wrong}"?'))

    name, wrong = rng.choice([("Ada Lovelace", "Marie Curie"), ("Alan Turing", "Isaac Newton")])
    img, draw = _canvas((245, 240, 230))
    draw.ellipse([120, 30, 200, 110], fill=(200, 160, 130))
    draw.rectangle([110, 115, 210, 170], fill=(60, 60, 90))
    draw.text((60, 185), name, fill=(0, 0, 0), font=_font(28))
    items.append(("celebrity", img, f"Is the person on this name card {name}?",
                  f"Is the person on this name card {wrong}?"))

    img, draw = _canvas((10, 15, 50))
    draw.ellipse([230, 30, 280, 80], fill=(245, 245, 210))
    for _ in range(40):
        x, y = rng.uniform(0, W), rng.uniform(0, H)
        draw.point([(x, y), (x + 1, y), (x, y + 1)], fill=(255, 255, 255))
    items.append(("scene", img, "Is this a picture of a night sky?", "Is this a picture of a sunny beach?"))

    img, draw = _canvas((150, 200, 240))
    draw.rectangle([0, 170, W, H], fill=(225, 200, 140))
    draw.polygon([(60, 170), (160, 50), (260, 170)], fill=(200, 170, 100))
    items.append(("landmark", img, "Does this picture show a pyramid?", "Does this picture show a lighthouse?"))

    img, draw = _canvas()
    for r in range(6):
        for c in range(8):
            if (r + c) % 2 == 0:
                draw.rectangle([c * 40, r * 40, c * 40 + 39, r * 40 + 39], fill=(0, 0, 0))
    items.append(("artwork", img, "Is this artwork a checkerboard pattern?", "Is this artwork a portrait of a person?"))

    img, draw = _canvas((200, 220, 200))
    draw.rectangle([130, 20, 190, 200], fill=(40, 40, 40))
    for k, lit in enumerate([(230, 30, 30), (80, 70, 20), (20, 70, 30)]):
        draw.ellipse([140, 30 + k * 56, 180, 70 + k * 56], fill=lit)
    items.append(("commonsense_reasoning", img, "Should a driver stop at this traffic light?",
                  "Should a driver drive through this traffic light without stopping?"))

    a, b = rng.randint(2, 9), rng.randint(2, 9)
    items.append(("numerical_calculation", _centred_text(f"{a} + {b} = ?", 44),
                  f"Is the answer to the calculation in the image {a + b}?",
                  f"Is the answer to the calculation in the image {a + b + 1}?"))

    word, meaning, wrong = rng.choice([("bonjour", "hello", "goodbye"), ("merci", "thank you", "please")])
    items.append(("text_translation", _centred_text(word, 44),
                  f'Is the French word in the image "{meaning}" in English?',
                  f'Is the French word in the image "{wrong}" in English?'))

    a, b = rng.randint(2, 6), rng.randint(2, 6)
    img = _text_image([f"x = {a}", f"y = {b}", "print(x * y)"], size=26)
    items.append(("code_reasoning", img, f"Will this Python code print {a * b}?",
                  f"Will this Python code print {a + b + 1}?"))
    return items


def _mme(rng: random.Random) -> pd.DataFrame:
    rows = []
    for category, img, yes_q, no_q in _mme_items(rng):
        b64, path = _png_b64(img), f"{category}/0.png"
        for question, answer in ((yes_q, "Yes"), (no_q, "No")):
            rows.append(dict(index=len(rows), image=b64, image_path=path,
                             question=f"{question} Please answer yes or no.", answer=answer, category=category))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------- OCR / VQA


def _jitter_text(rng: random.Random, text: str, size: int = 40) -> Image.Image:
    img, draw = _canvas()
    font, x = _font(size), 30
    for ch in text:
        draw.text((x, 90 + rng.uniform(-10, 10)), ch, fill=(20, 20, 120), font=font)
        x += size * 0.62 + rng.uniform(-2, 4)
    return img


def _ocrbench(rng: random.Random) -> pd.DataFrame:
    word = rng.choice(["HARBOR", "CANDLE", "PLANET"])
    rot_word = rng.choice(["SUMMER", "ORANGE"])
    rotated = _centred_text(rot_word, 40).rotate(12, fillcolor=(255, 255, 255))
    art_word = rng.choice(["Bakery", "Studio"])
    art = _centred_text(art_word, 52, bg=(250, 230, 240), fg=(200, 30, 120))
    hand_word = rng.choice(["letter", "window"])
    digits = "".join(rng.choice("0123456789") for _ in range(7))
    nonsense = "".join(rng.choice("bcdfghjklmnpqrstvwxz") for _ in range(5))
    door, ddraw = _canvas((120, 90, 60))
    ddraw.rectangle([90, 60, 230, 110], fill=(20, 140, 60))
    ddraw.text((125, 66), "EXIT", fill=(255, 255, 255), font=_font(34))
    year = str(rng.randint(2005, 2023))
    total = f"{rng.randint(10, 99)}.{rng.randint(10, 99)}"
    a, b = rng.randint(2, 9), rng.randint(1, 9)
    formula = f"x^{a}+{b}"
    items = [
        ("Regular Text Recognition", _centred_text(word), "what is written in the image?", word),
        ("Irregular Text Recognition", rotated, "what is written in the image?", rot_word),
        ("Artistic Text Recognition", art, "what is written in the image?", art_word),
        ("Handwriting Recognition", _jitter_text(rng, hand_word), "what is written in the image?", hand_word),
        ("Digit String Recognition", _centred_text(digits), "what is the number in the image?", digits),
        ("Non-Semantic Text Recognition", _centred_text(nonsense), "what is written in the image?", nonsense),
        ("Scene Text-centric VQA", door, "What does the sign above the door say?", "EXIT"),
        ("Doc-oriented VQA", _text_image(["ANNUAL REPORT", f"Year: {year}", "Pages: 12"], 24),
         "Which year is this report for?", year),
        ("Key Information Extraction", _text_image(["RECEIPT", "Bread 2.10", f"TOTAL {total}"], 24),
         "What is the total amount on the receipt?", total),
        ("Handwritten Mathematical Expression Recognition", _centred_text(formula, 40),
         "Please write out the expression of the formula in the image using LaTeX format.", formula),
    ]
    return pd.DataFrame([dict(index=i, image=_png_b64(img), question=q, answer=str([ans]), category=cat)
                         for i, (cat, img, q, ans) in enumerate(items)])


def _textvqa(rng: random.Random) -> pd.DataFrame:
    """Scene-text questions; `answer` holds ten annotator answers like TextVQA (VQA score = min(1, agree / 3))."""
    signs = [("STOP", "What word is written on the red sign?", (200, 30, 30), ["stop"] * 9 + ["stop sign"]),
             ("OPEN", "What does the sign in the window say?", (30, 120, 200), ["open"] * 10),
             ("CAFE", "What is the name on the shop front?", (90, 60, 40), ["cafe"] * 8 + ["café"] * 2),
             ("42", "What number is on the bus?", (240, 190, 20), ["42"] * 10),
             ("SALE", "What word is on the banner?", (220, 60, 140), ["sale"] * 10),
             ("EXIT", "What does the green sign say?", (20, 140, 60), ["exit"] * 10),
             ("MILK", "What is written on the carton?", (120, 160, 220), ["milk"] * 9 + ["milk carton"]),
             ("7", "What number is on the player's shirt?", (30, 30, 140), ["7"] * 10)]
    rows = []
    for i, (text, question, colour, answers) in enumerate(signs):
        img, draw = _canvas((rng.randint(180, 230),) * 3)
        draw.rounded_rectangle([50, 60, 270, 180], radius=16, fill=colour)
        font = _font(48)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        draw.text((160 - (right - left) / 2 - left, 120 - (bottom - top) / 2 - top), text, fill=(255, 255, 255),
                  font=font)
        rows.append(dict(index=i, image=_png_b64(img), question=question, answer=str(answers)))
    return pd.DataFrame(rows)


def _docvqa(rng: random.Random) -> pd.DataFrame:
    """Rendered forms; scored by ANLS against the listed answers."""
    rows = []
    for i in range(8):
        number = f"INV-{rng.randint(1000, 9999)}"
        date = f"{rng.randint(1, 28):02d}/{rng.randint(1, 12):02d}/20{rng.randint(10, 24)}"
        company = rng.choice(["Acme Tools", "Blue River Ltd", "Nordic Foods", "Sunrise Labs"])
        amount = f"{rng.randint(100, 999)}.{rng.randint(0, 99):02d}"
        img = _text_image(["INVOICE", f"Number: {number}", f"Date: {date}", f"From: {company}",
                           f"Amount due: {amount}"], size=20, dims=(W, H))
        question, answer = [("What is the invoice number?", number), ("What is the date of the invoice?", date),
                            ("Which company issued the invoice?", company),
                            ("What is the amount due?", amount)][i % 4]
        rows.append(dict(index=i, image=_png_b64(img), question=question, answer=str([answer])))
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------------- staging

BUILDERS: dict[str, Callable[[random.Random], pd.DataFrame]] = {
    "MMMU_DEV_VAL_EMB": _mmmu,
    "MMStar_EMB": _mmstar,
    "MME_EMB": _mme,
    "OCRBench_EMB": _ocrbench,
    "MMBench_DEV_EN_EMB": _mmbench,
    "TextVQA_VAL_EMB": _textvqa,
    "DocVQA_VAL_EMB": _docvqa,
}


def md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def build(name: str) -> pd.DataFrame:
    """One embedded set as a DataFrame (deterministic: the RNG is seeded from the set's name)."""
    if name not in BUILDERS:
        raise KeyError(f"no embedded VQA set named {name!r}; known: {', '.join(BUILDERS)}")
    return BUILDERS[name](random.Random(f"{name}:{SEED}"))


def _write_tsv(df: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, lineterminator="\n")


def is_staged(root: Path, names: list[str] | None = None) -> bool:
    """True when `root` holds the current generator's TSVs, byte for byte as its manifest records."""
    try:
        manifest = json.loads((Path(root) / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("generator_version") != GENERATOR_VERSION or manifest.get("seed") != SEED:
        return False
    files = manifest.get("files", {})
    for name in names or list(BUILDERS):
        path = Path(root) / f"{name}.tsv"
        if name not in files or not path.is_file() or md5_file(path) != files[name]:
            return False
    return True


def stage(root: str | Path, *, force: bool = False) -> dict[str, Path]:
    """Write every embedded set to `root/<name>.tsv` (a valid `$LMUData`); reuse an up-to-date copy.

    Rebuilding also removes the images VLMEvalKit cached under `root/images/<name>/`, which it would otherwise
    reuse for the new TSV.
    """
    root = Path(root)
    paths = {name: root / f"{name}.tsv" for name in BUILDERS}
    if not force and is_staged(root):
        return paths
    root.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, path in paths.items():
        shutil.rmtree(root / "images" / name, ignore_errors=True)
        _write_tsv(build(name), path)
        files[name] = md5_file(path)
    manifest = dict(generator_version=GENERATOR_VERSION, seed=SEED, files=files)
    atomic_write_text(root / MANIFEST, json.dumps(manifest, indent=2) + "\n")
    return paths
