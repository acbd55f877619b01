"""The five sarcopenia definitions the HCC paper compares with DeepSurv (SPEC 5), in a module without
torch so the command line can offer them as a default without importing the network code."""

HCC_DEFINITIONS = ("golse_psoas_area", "hamaguchi_psoas_index", "yoo_psoas_density", "carey_smi",
                   "fujiwara_muscle_attenuation")
