"""Masked-LM (continued) pretraining on multilingual unlabelled text (`keras-clx pretrain`)."""

from keras_clx.pretraining.chain import pretrain_before_fit
from keras_clx.pretraining.masked_lm import PretrainResult, pretrain
from keras_clx.pretraining.sampling import sampling_rates
from keras_clx.pretraining.texts import read_text_files

__all__ = ["PretrainResult", "pretrain", "pretrain_before_fit", "read_text_files", "sampling_rates"]
