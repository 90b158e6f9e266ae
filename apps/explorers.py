"""The lessons' augmentation and temperature explorers as one page, without code: served by `make app`.

Voila runs this file as a single cell and shows only what it displays (the app), never the code. The explorers
live in clkit.widgets; CLKIT_SCALE sets how long the temperature tab's model trains before the page appears.
"""

from clkit import widgets

widgets.explorers_app()
