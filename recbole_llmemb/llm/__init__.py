"""The LLM stages: loading the model, item prompts, SCFT and the item table (stage artifacts)."""
