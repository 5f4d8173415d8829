"""The sprite data: a procedural set with known ground truth, and loaders for other data.

* :mod:`~diffprob.sprites.generator` -- draw sprites of five classes with seeded variety;
* :mod:`~diffprob.sprites.dataset` -- ``SpriteData`` and loading images and labels from
  ``.npz`` files, the course's ``.npy`` pair or folders;
* :mod:`~diffprob.sprites.grid` -- tile images into one picture.

The public functions are also importable from :mod:`diffprob` itself.
"""
