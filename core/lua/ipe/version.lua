-- ipe.version: the release this runtime is.
return "0.1.0"
