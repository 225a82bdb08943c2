"""The tiny training run the training tests share: synthetic 10x10 images, 40 iterations."""
from tfrobust.training import TrainConfig

DATA = "synthetic:image_shape=10x10x1,train_size=600,test_size=100,noise_std=0.6"


def tiny(**kw) -> TrainConfig:
    settings = dict(dataset=DATA, valid_size=100, batch_size=20, eval_batch_size=100, train_iters=40,
                    eval_every=20, attack="fgsm:eps=0.1")
    settings.update(kw)
    return TrainConfig(**settings)
