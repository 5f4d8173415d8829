"""The sprite data: a procedural set with known ground truth, and loaders for other data.

* :mod:`~diffprob.sprites.classes` -- the five class names and their shape variants;
* :mod:`~diffprob.sprites.palettes` -- each class's colour roles, named colours and
  shades, and the exact set of colours it can contain;
* :mod:`~diffprob.sprites.drawing` -- the canvas and the drawing of each class;
* :mod:`~diffprob.sprites.generator` -- draw labelled sprites with seeded variety, and
  the probabilities of labels and shape variants;
* :mod:`~diffprob.sprites.ground_truth` -- hold samples against the known truth:
  snapping to the palette, mirror symmetry;
* :mod:`~diffprob.sprites.attributes` -- each sprite's class, shape variant and named
  colours, beside the same images;
* :mod:`~diffprob.sprites.captions` -- captions in plain words from those attributes, parsed
  back, and the vocabulary of prompts;
* :mod:`~diffprob.sprites.dataset` -- ``SpriteData`` and :func:`load_sprite_data`;
* :mod:`~diffprob.sprites.file_readers` -- its readers of ``.npz`` files, the course's
  ``.npy`` pair and folders of class sub-folders;
* :mod:`~diffprob.sprites.grid` -- tile images into one picture.

The public functions are also importable from :mod:`diffprob` itself.
"""
