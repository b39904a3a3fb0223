"""Everything that reads a scored file to say how far to trust a judge.

``judgekit agreement`` (agreement with human labels), ``judgekit report``
(one self-contained HTML page) and ``judgekit align`` all start from the
columns ``score`` wrote; none of them knows anything about the engine.
"""
