"""`SequenceClassifier`: one label per text (documents, sentiment, intents)."""

import keras

from keras_clx.api_export import clx_export
from keras_clx.models.backbones import backbone_family
from keras_clx.models.task import CrossLingualClassifier


@clx_export("keras_clx.models.SequenceClassifier")
class SequenceClassifier(CrossLingualClassifier):
    """Backbone -> pooled [CLS] -> dropout -> dense logits.

    BERT uses its pooled output (the tanh dense over [CLS]); XLM-R, which has none,
    gets the same pooling dense over `<s>` in the head, as keras-hub's
    `XLMRobertaTextClassifier`. Fits and predicts on raw strings (through
    `preprocessor`) and on preprocessed `tf.data` batches.

    Args:
        backbone: a keras-hub `BertBackbone` or `XLMRobertaBackbone`.
        num_classes: int. Number of labels.
        preprocessor: a keras-hub `TextClassifierPreprocessor`, or `None`.
        dropout: float. Dropout before the output layer.
    """

    def __init__(self, backbone, num_classes, preprocessor=None, dropout=0.1, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.family = backbone_family(backbone)
        self.pooled_dense = None
        if self.family == "xlmr":
            self.pooled_dense = keras.layers.Dense(
                backbone.hidden_dim, activation="tanh", dtype=backbone.dtype_policy, name="pooled_dense"
            )
        self.output_dropout = keras.layers.Dropout(dropout, dtype=backbone.dtype_policy, name="output_dropout")
        self.output_dense = keras.layers.Dense(num_classes, dtype=backbone.dtype_policy, name="logits")

        # === Functional Model ===
        self._build(backbone, preprocessor, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.dropout = dropout

    def head(self, backbone_outputs, training=None):
        if self.family == "bert":
            features = backbone_outputs["pooled_output"]
        else:
            features = self.pooled_dense(backbone_outputs[:, 0, :])
        x = self.output_dropout(features, training=training)
        return self.output_dense(x), features

    def get_config(self):
        config = super().get_config()
        config.update({"num_classes": self.num_classes, "dropout": self.dropout})
        return config
