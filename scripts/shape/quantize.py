#!/usr/bin/env python3
"""Quantizes a GGUF model with llama.cpp's quantizer (llama_model_quantize through
llama-cpp-python's ctypes layer; scripts/install-peer.sh installs it), as `llama-quantize IN OUT TYPE`.
Usage: quantize.py IN.gguf OUT.gguf TYPE   (Q4_0 Q5_0 Q8_0 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K ...)"""
import sys
import llama_cpp as L
src, dst, kind = sys.argv[1], sys.argv[2], sys.argv[3].upper()
p = L.llama_model_quantize_default_params()
p.ftype = getattr(L, f'LLAMA_FTYPE_MOSTLY_{kind}')
p.allow_requantize = False
sys.exit(L.llama_model_quantize(src.encode(), dst.encode(), p))
