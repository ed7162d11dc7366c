"""Dataset readers: image–caption annotation files -> :class:`CaptionRecords`.

========================  ==================================================================
reader                    files
========================  ==================================================================
:func:`read_coco`         official COCO ``captions_*.json``; Karpathy ``dataset_*.json``
:func:`read_flickr_tokens` Flickr8k/30k ``image#n<TAB>caption`` token files + split lists
:func:`read_caption_map`  ``{image_file: [captions]}`` JSON
:func:`read_table`        CSV / TSV / JSON Lines with chosen image and caption columns
:func:`read_coco_results` generated captions, COCO results ``[{"image_id", "caption"}]``
========================  ==================================================================

Captions are grouped by image (``text_image``); :func:`resolve_images` finds the image files.
No torch here: reading annotations is cheap and needs no model.
"""

from gaptools.datasets.coco import read_coco, read_coco_results, read_karpathy
from gaptools.datasets.flickr import read_flickr_tokens, read_split_list
from gaptools.datasets.records import CaptionRecords, group_captions, resolve_images
from gaptools.datasets.tables import read_caption_map, read_table

__all__ = [
    "CaptionRecords",
    "group_captions",
    "read_caption_map",
    "read_coco",
    "read_coco_results",
    "read_flickr_tokens",
    "read_karpathy",
    "read_split_list",
    "read_table",
    "resolve_images",
]
