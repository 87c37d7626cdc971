"""The offer-copy eval harness: a versioned eval set (:mod:`.evalset`) × a prompt version × a generator version,
scored per case (:mod:`.scoring`), aggregated and gated by the prompt's ``eval:`` thresholds, logged to MLflow and
written as JSON + HTML (:mod:`.harness`)."""
