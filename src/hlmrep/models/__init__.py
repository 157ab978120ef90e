"""The models stage: fit each configured model, its inference, comparisons, variance explained."""
