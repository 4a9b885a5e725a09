"""From retrieved papers to a cited answer: abstention, screening, prompts, generation,
citations; and chat turns."""
