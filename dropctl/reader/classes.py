"""What dropctl knows about Keras class names, without importing Keras.

Legacy .h5 files carry no ``module``, so built-in classes are recognised by name; Keras 3
files are judged by their module root. The walker, the site classifier and the findings all
read these tables, so a new Keras layer is added in one place.
"""

from __future__ import annotations

from dropctl.reader.report import SiteKind

TRUSTED_MODULE_ROOTS = ("keras", "keras_hub", "keras_cv", "keras_nlp", "tf_keras", "dropctl")
"""Modules whose classes are built into Keras (or dropctl's own registered layers)."""

CONTAINER_CLASSES = frozenset({"Sequential", "Functional", "Model", "Network"})

STOCK_KINDS: dict[str, SiteKind] = {
    "Dropout": SiteKind.DROPOUT,
    "SpatialDropout1D": SiteKind.SPATIAL_DROPOUT,
    "SpatialDropout2D": SiteKind.SPATIAL_DROPOUT,
    "SpatialDropout3D": SiteKind.SPATIAL_DROPOUT,
    "GaussianDropout": SiteKind.GAUSSIAN_DROPOUT,
    "AlphaDropout": SiteKind.ALPHA_DROPOUT,
    "GaussianNoise": SiteKind.GAUSSIAN_NOISE,
    "StochasticDepth": SiteKind.STOCHASTIC_DEPTH,
}
RECURRENT_CLASSES = frozenset(
    {
        "LSTM", "GRU", "SimpleRNN", "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
        "LSTMCell", "GRUCell", "SimpleRNNCell", "ConvLSTMCell", "ConvLSTM1DCell",
        "ConvLSTM2DCell", "ConvLSTM3DCell", "PeepholeLSTMCell",
    }
)
ATTENTION_CLASSES = frozenset(
    {"MultiHeadAttention", "GroupedQueryAttention", "GroupQueryAttention", "Attention",
     "AdditiveAttention"}
)
UNSAFE_CLASSES = frozenset({"TorchModuleWrapper", "TFSMLayer", "JaxLayer", "FlaxLayer"})
LOOKUP_CLASSES = frozenset({"StringLookup", "IntegerLookup", "TextVectorization"})

# Layer classes Keras 1, Keras 2, tf.keras and Keras 3 ship (legacy .h5 files carry no module).
_BUILTIN_NAMES = """
AbstractRNNCell Activation ActivityRegularization AdaptiveAveragePooling1D AdaptiveAveragePooling2D
AdaptiveAveragePooling3D AdaptiveMaxPooling1D AdaptiveMaxPooling2D AdaptiveMaxPooling3D Add
AdditiveAttention AlphaDropout Attention AugMix AutoContrast Average AveragePooling1D
AveragePooling2D AveragePooling3D AvgPool1D AvgPool2D AvgPool3D BatchNormalization Bidirectional
CategoryEncoding CenterCrop Concatenate Conv1D Conv1DTranspose Conv2D Conv2DTranspose Conv3D
Conv3DTranspose ConvLSTM1D ConvLSTM2D ConvLSTM3D Convolution1D Convolution1DTranspose Convolution2D
Convolution2DTranspose Convolution3D Convolution3DTranspose Cropping1D Cropping2D Cropping3D CutMix
Dense DenseFeatures DepthwiseConv1D DepthwiseConv2D Discretization Dot Dropout ELU EinsumDense
Embedding Equalization Flatten Functional GRU GRUCell GaussianDropout GaussianNoise
GlobalAveragePooling1D GlobalAveragePooling2D GlobalAveragePooling3D GlobalAvgPool1D GlobalAvgPool2D
GlobalAvgPool3D GlobalMaxPool1D GlobalMaxPool2D GlobalMaxPool3D GlobalMaxPooling1D
GlobalMaxPooling2D GlobalMaxPooling3D GroupNormalization GroupQueryAttention GroupedQueryAttention
HashedCrossing Hashing Identity InputLayer IntegerLookup LSTM LSTMCell Lambda Layer LayerNormalization
LeakyReLU LocallyConnected1D LocallyConnected2D Masking MaxPool1D MaxPool2D MaxPool3D MaxPooling1D
MaxPooling2D MaxPooling3D Maximum MelSpectrogram Minimum MixUp Model MultiHeadAttention Multiply
Network Normalization PReLU Permute Pipeline RMSNormalization RNN RandAugment RandomBrightness
RandomColorDegeneration RandomColorJitter RandomContrast RandomCrop RandomElasticTransform
RandomErasing RandomFlip RandomGaussianBlur RandomGrayscale RandomHeight RandomHue RandomInvert
RandomPerspective RandomPosterization RandomRotation RandomSaturation RandomSharpness RandomShear
RandomTranslation RandomWidth RandomZoom ReLU RepeatVector Rescaling Reshape Resizing
ReversibleEmbedding STFTSpectrogram SeparableConv1D SeparableConv2D SeparableConvolution1D
SeparableConvolution2D Sequential SimpleRNN SimpleRNNCell Softmax Solarization SpatialDropout1D
SpatialDropout2D SpatialDropout3D SpectralNormalization StackedRNNCells StringLookup Subtract
TextVectorization ThresholdedReLU TimeDistributed Wrapper ZeroPadding1D ZeroPadding2D ZeroPadding3D
TFSMLayer TorchModuleWrapper JaxLayer FlaxLayer
TFOpLambda SlicingOpLambda TensorFlowOpLayer CuDNNLSTM CuDNNGRU PeepholeLSTMCell ConvLSTM2DCell
Merge Highway MaxoutDense TimeDistributedDense AtrousConvolution1D AtrousConvolution2D
Deconvolution2D Deconvolution3D Convolution1D ParametricSoftplus SReLU LocallyConnected
UpSampling1D UpSampling2D UpSampling3D StochasticDepth LayerScale
ContrastLimitedAdaptiveHistogramEqualization MaxNumBoundingBoxes UnitNormalization
"""
BUILTIN_CLASSES = frozenset(_BUILTIN_NAMES.split())

RATE_KEYS = ("rate", "p", "dropout_rate", "drop_rate", "drop_path_rate")
DROPOUT_WORDS = ("dropout", "drop_path", "droppath", "stochasticdepth", "noise", "dropconnect",
                  "dropblock", "mcdropout", "permadropout", "perma_dropout")
