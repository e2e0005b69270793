"""movinet-pipeline: fine-tune MoViNet video classifiers on Dataloop data and bring them back to Dataloop."""

__version__ = "0.1.0"
