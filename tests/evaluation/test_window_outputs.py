"""classify_windows: embeddings and probabilities equal the encoder and softmax applied by hand,
in batches or at once, and the classifier's train/eval mode is left as it was."""

from __future__ import annotations

import torch

from contrastlab.evaluation.window_outputs import classify_windows
from contrastlab.models.signal_spec import build_classifier, make_spec


def test_outputs_match_the_layers_applied_by_hand() -> None:
    torch.manual_seed(0)
    classifier = build_classifier(make_spec("mlp", "fft", 2, 256), 5).eval()
    inputs = torch.randn(37, 2, 256)
    outputs = classify_windows(classifier, inputs, batch_size=8)
    with torch.no_grad():
        embeddings = classifier.encoder(inputs)
        probabilities = torch.softmax(classifier.classifier(embeddings), dim=1)
    torch.testing.assert_close(outputs.embeddings, embeddings)
    torch.testing.assert_close(outputs.probabilities, probabilities)
    torch.testing.assert_close(outputs.confidences, probabilities.max(dim=1).values)
    assert torch.equal(outputs.predictions, probabilities.argmax(dim=1))
    torch.testing.assert_close(outputs.probabilities.sum(dim=1), torch.ones(37))


def test_batches_do_not_change_the_result_and_modes_are_restored() -> None:
    torch.manual_seed(1)
    classifier = build_classifier(make_spec("mlp", "fft", 1, 128), 3).train()
    inputs = torch.randn(20, 1, 128)
    whole = classify_windows(classifier, inputs, batch_size=64)
    pieces = classify_windows(classifier, inputs, batch_size=3)
    torch.testing.assert_close(whole.probabilities, pieces.probabilities)
    assert classifier.training  # evaluated in eval mode (batch norm), then restored
