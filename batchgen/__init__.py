"""batchgen: batch rendering for text-to-image APIs."""
