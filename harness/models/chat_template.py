"""The Gemma-3 instruction-tuned chat template, given to every Gemma-3 model the harness builds itself.

The embedded models (the pretrained 270M has no chat template; the tiny model has no tokenizer upstream) get the
12B IT model's turn format, so a prompt rendered for `gemma3-270m` looks exactly like one rendered for
`google/gemma-3-12b-it`: `<bos><start_of_turn>user\\n<start_of_image>...text<end_of_turn>\\n<start_of_turn>model\\n`.
"""

from __future__ import annotations

# Same rendering as the template shipped in google/gemma-3-*-it tokenizer_config.json (system text is folded into
# the first user turn; assistant turns are called "model"; each image part becomes <start_of_image>).
GEMMA3_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{%- if messages[0]['role'] == 'system' -%}"
    "{%- if messages[0]['content'] is string -%}"
    "{%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}"
    "{%- endif -%}"
    "{%- set loop_messages = messages[1:] -%}"
    "{%- else -%}"
    "{%- set first_user_prefix = '' -%}"
    "{%- set loop_messages = messages -%}"
    "{%- endif -%}"
    "{%- for message in loop_messages -%}"
    "{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{%- endif -%}"
    "{%- if message['role'] == 'assistant' -%}{%- set role = 'model' -%}"
    "{%- else -%}{%- set role = message['role'] -%}{%- endif -%}"
    "{{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else '') }}"
    "{%- if message['content'] is string -%}"
    "{{ message['content'] | trim }}"
    "{%- elif message['content'] is iterable -%}"
    "{%- for item in message['content'] -%}"
    "{%- if item['type'] == 'image' -%}{{ '<start_of_image>' }}"
    "{%- elif item['type'] == 'text' -%}{{ item['text'] | trim }}"
    "{%- endif -%}"
    "{%- endfor -%}"
    "{%- else -%}"
    "{{ raise_exception('Invalid content type') }}"
    "{%- endif -%}"
    "{{ '<end_of_turn>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<start_of_turn>model\\n' }}{%- endif -%}"
)

START_OF_TURN = "<start_of_turn>"
END_OF_TURN = "<end_of_turn>"
START_OF_IMAGE = "<start_of_image>"
END_OF_IMAGE = "<end_of_image>"
IMAGE_TOKEN = "<image_soft_token>"
