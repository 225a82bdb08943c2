"""Generative Teaching Networks (seed 004): the teacher (``teacher``, ``generator``), functional
learners (``learners``, ``functional``), the unrolled inner loop and meta-gradient (``inner``,
``meta``), and the robustness study of the learners a teacher trains (``robustness``)."""
